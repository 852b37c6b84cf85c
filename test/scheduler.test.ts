import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type ScheduleRun, type Session } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

// One engine (two Pyodide workers) for the file, on a clock the tests move: schedules that are 15
// minutes or a day apart fire in milliseconds. The scheduler ticks every 50 ms of real time.
const T0 = Date.parse('2026-03-01T00:00:00Z');
let now = T0;
let engine: Engine;
let me: Session;
let bob: Session;
const db = tempDatabase();

const HELLO = { source: 'def hello(who="world"):\n    print("hello", who)\n    return who' };

// Seed 003's shape: a script called with argc/argv that writes a table through the context.
const GSF_MAIN = [
  'import insitu',
  '',
  'def gsf_main(argc, argv):',
  '    table, cols = argv[0], argv[1:]',
  '    conn = insitu.connect()',
  '    conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (" + ", ".join(f"{c} INTEGER" for c in cols) + ")")',
  '    for i in range(1, argc + 1):',
  '        conn.execute(f"INSERT INTO {table} VALUES (" + ", ".join("?" for _ in cols) + ")", [i * (k + 1) for k in range(len(cols))])',
  '    print(f"{argc} rows into {table}")',
  '    return argc',
].join('\n');

/** Move the scheduler's clock. */
function advance(ms: number): void {
  now += ms;
}

/** Poll `read` until `ok` holds (real time), and return the last value. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ended = (r: ScheduleRun) => r.finished !== null;
/** The runs of `name` once `n` of them have ended. */
const runsEnded = (s: Session, name: string, n: number) =>
  until(() => s.scheduler.runs({ name }), (rs) => rs.length >= n && rs.every(ended), `${n} ended runs of ${name}`);

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2, schedulerClock: () => now, schedulerTickMs: 50 });
  me = engine.session({ user: 'alice' });
  bob = engine.session({ user: 'bob' });
  await me.scripts.create('hello', HELLO.source);
  await me.scripts.create('gsf_main', GSF_MAIN);
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

describe('schedules fire on their time', () => {
  it('every: once per interval, logged with its job, stdout and result', async () => {
    const created = await me.scheduler.create({ name: 'every_15m', func: 'hello', args: { who: 'alice' }, schedule: { every: '15m' }, enabled: true });
    expect(created).toMatchObject({ name: 'every_15m', owner: 'alice', kind: 'doEval', enabled: true, runCount: 0, schedule: { every: 900_000 }, lastRun: null });
    expect(created.nextRun).toEqual(new Date(now + 900_000));
    advance(14 * 60_000);
    await engine.scheduler.tick();
    expect(await me.scheduler.runs({ name: 'every_15m' })).toEqual([]);
    advance(60_000);
    const [run] = await runsEnded(me, 'every_15m', 1);
    expect(run).toMatchObject({ schedule: 'every_15m', trigger: 'schedule', state: 'succeeded', stdout: 'hello alice\n', due: new Date(T0 + 900_000) });
    expect(run!.started).toBeInstanceOf(Date);
    // Each run is a job of the owner: status and result work on it.
    expect(await me.jobs.status(run!.jobId!)).toMatchObject({ state: 'succeeded', origin: 'schedule:every_15m', owner: 'alice' });
    expect((await me.jobs.result(run!.jobId!)).value).toBe('alice');
    const info = await me.scheduler.get('every_15m');
    expect(info).toMatchObject({ runCount: 1, nextRun: new Date(T0 + 1_800_000), lastRun: { state: 'succeeded', jobId: run!.jobId } });
    advance(15 * 60_000);
    expect((await runsEnded(me, 'every_15m', 2)).map((r) => r.due)).toEqual([new Date(T0 + 1_800_000), new Date(T0 + 900_000)]);
    await me.scheduler.disable('every_15m');
  });

  it('at: once at its time; autoDrop drops the schedule and keeps its log', async () => {
    await me.scheduler.create({ name: 'once', func: 'hello', schedule: { at: new Date(now + 3_600_000) }, enabled: true, autoDrop: true });
    advance(3_600_000);
    const [run] = await runsEnded(me, 'once', 1);
    expect(run).toMatchObject({ state: 'succeeded', stdout: 'hello world\n' });
    await rejectsWith(me.scheduler.get('once'), 'SCHEDULE_NOT_FOUND');
    advance(86_400_000);
    await engine.scheduler.tick();
    expect(await me.scheduler.runs({ name: 'once' })).toHaveLength(1);
  });

  it('cron: at the pattern\'s next match in its time zone, then the next', async () => {
    const day = Date.UTC(2026, 2, 5);
    now = day; // 00:00 UTC = 01:00 in Paris (winter time)
    const s = await me.scheduler.create({ name: 'nightly', func: 'hello', schedule: { cron: '0 3 * * *', tz: 'Europe/Paris' }, enabled: true });
    expect(s.nextRun).toEqual(new Date(day + 2 * 3_600_000));
    advance(2 * 3_600_000 - 1000);
    await engine.scheduler.tick();
    expect(await me.scheduler.runs({ name: 'nightly' })).toEqual([]);
    advance(1000);
    const [run] = await runsEnded(me, 'nightly', 1);
    expect(run!.due).toEqual(new Date(day + 2 * 3_600_000));
    expect((await me.scheduler.get('nightly')).nextRun).toEqual(new Date(day + 26 * 3_600_000));
    await me.scheduler.drop('nightly');
  });

  it('runs missed slots once, not once per slot, and goes on from the next slot', async () => {
    const start = now;
    await me.scheduler.create({ name: 'missed', func: 'hello', schedule: { every: '10m' }, enabled: true });
    advance(2 * 3_600_000 + 5 * 60_000); // 12 slots pass without a tick
    await engine.scheduler.tick();
    await runsEnded(me, 'missed', 1);
    await engine.scheduler.tick();
    expect(await me.scheduler.runs({ name: 'missed' })).toHaveLength(1);
    expect((await me.scheduler.get('missed')).nextRun).toEqual(new Date(start + 13 * 600_000));
    await me.scheduler.drop('missed');
  });

  it('maxRuns: stops (disabled) after that many scheduled runs', async () => {
    await me.scheduler.create({ name: 'twice', func: 'hello', schedule: { every: '1m' }, enabled: true, maxRuns: 2 });
    for (let i = 1; i <= 3; i++) {
      advance(60_000);
      await engine.scheduler.tick();
    }
    await runsEnded(me, 'twice', 2);
    expect(await me.scheduler.get('twice')).toMatchObject({ runCount: 2, enabled: false, nextRun: null });
    expect(await me.scheduler.runs({ name: 'twice' })).toHaveLength(2);
  });
});

describe('enable, disable, runNow, drop, list', () => {
  it('a disabled schedule does not fire; runNow runs it anyway and returns its job id', async () => {
    const s = await me.scheduler.create({ name: 'manual', func: HELLO, args: { who: 'now' }, schedule: { every: '5m' } });
    expect(s).toMatchObject({ enabled: false, nextRun: null });
    advance(3_600_000);
    await engine.scheduler.tick();
    expect(await me.scheduler.runs({ name: 'manual' })).toEqual([]);
    const jobId = await me.scheduler.runNow('manual');
    expect((await me.jobs.wait(jobId)).state).toBe('succeeded');
    const [run] = await runsEnded(me, 'manual', 1);
    expect(run).toMatchObject({ jobId, trigger: 'manual', due: null, state: 'succeeded', stdout: 'hello now\n' });
    expect(await me.scheduler.get('manual')).toMatchObject({ enabled: false, nextRun: null, runCount: 0 });

    expect(await me.scheduler.enable('manual')).toMatchObject({ enabled: true, nextRun: new Date(now + 300_000) });
    expect(await me.scheduler.disable('manual')).toMatchObject({ enabled: false, nextRun: null });
    advance(3_600_000);
    await engine.scheduler.tick();
    expect(await me.scheduler.runs({ name: 'manual' })).toHaveLength(1);

    expect((await me.scheduler.list()).map((x) => x.name)).toContain('manual');
    await me.scheduler.drop('manual');
    expect((await me.scheduler.list()).map((x) => x.name)).not.toContain('manual');
    expect(await me.scheduler.runs({ name: 'manual' })).toEqual([]);
    for (const op of [() => me.scheduler.get('manual'), () => me.scheduler.enable('manual'), () => me.scheduler.runNow('manual'), () => me.scheduler.drop('manual')]) {
      await rejectsWith(op, 'SCHEDULE_NOT_FOUND');
    }
  });
});

describe('seed 003: a script with argc/argv that writes through the context', () => {
  it('a write run creates the table and inserts argc rows as its owner', async () => {
    await me.scheduler.create({
      name: 'load_t1',
      func: 'gsf_main',
      positional: [5, ['T1', 'ID', 'VAL']],
      schedule: { every: '1h' },
      context: 'write',
      enabled: true,
    });
    advance(3_600_000);
    const [run] = await runsEnded(me, 'load_t1', 1);
    expect(run).toMatchObject({ state: 'succeeded', stdout: '5 rows into T1\n' });
    expect((await me.table('T1').orderBy('ID').pull()).toArray().map((r) => r.toJSON())).toEqual(
      [1, 2, 3, 4, 5].map((i) => ({ ID: i, VAL: 2 * i })),
    );
    await me.scheduler.drop('load_t1');
  });

  it('a read run cannot write: PRIVILEGE, and nothing changed', async () => {
    await me.scheduler.create({ name: 'load_t2', func: 'gsf_main', positional: [3, ['T2', 'ID']], schedule: { every: '1h' } });
    const jobId = await me.scheduler.runNow('load_t2');
    const [run] = await runsEnded(me, 'load_t2', 1);
    expect(run).toMatchObject({ jobId, state: 'failed' });
    expect(run!.error?.code).toBe('PRIVILEGE');
    await rejectsWith(me.table('T2').count(), 'TABLE_NOT_FOUND');
  });
});

describe('privileges', () => {
  it('another user\'s schedules, runs and run jobs answer like missing ones', async () => {
    await me.scheduler.create({ name: 'private', func: 'hello', schedule: { every: '1h' } });
    const jobId = await me.scheduler.runNow('private');
    await runsEnded(me, 'private', 1);
    for (const op of [
      () => bob.scheduler.get('private'),
      () => bob.scheduler.enable('private'),
      () => bob.scheduler.disable('private'),
      () => bob.scheduler.runNow('private'),
      () => bob.scheduler.drop('private'),
    ]) {
      await rejectsWith(op, 'SCHEDULE_NOT_FOUND');
    }
    expect(await bob.scheduler.list()).toEqual([]);
    expect(await bob.scheduler.runs()).toEqual([]);
    await rejectsWith(bob.jobs.status(jobId), 'JOB_NOT_FOUND');
    // Names are unique per owner only; a schedule runs only what its owner can see.
    await rejectsWith(bob.scheduler.create({ name: 'private', func: 'hello', schedule: { every: '1h' } }), 'SCRIPT_NOT_FOUND');
    const mine = await bob.scheduler.create({ name: 'private', func: HELLO, schedule: { every: '1h' } });
    expect(mine.owner).toBe('bob');
    expect((await me.scheduler.get('private')).owner).toBe('alice');
  });

  it('a write run of one user cannot reach the schedule tables to read or change another\'s', async () => {
    const before = await me.scheduler.get('private');
    const attempts = [
      'SELECT * FROM insitu_schedules',
      'SELECT stdout FROM insitu_engine_schedule_runs',
      "UPDATE insitu_schedules SET owner = 'bob'",
      "UPDATE insitu_schedules SET call = '{}' WHERE owner = 'alice'",
      "INSERT INTO insitu_schedules (owner, name, call, schedule, enabled, auto_drop, created) VALUES ('alice', 'x', '{}', '{}', 1, 0, 0)",
      'DELETE FROM insitu_engine_schedule_runs',
      'DROP TABLE insitu_schedules',
    ];
    const source = [
      'import insitu',
      '',
      'def attack(attempts):',
      '    conn = insitu.connect()',
      '    codes = []',
      '    for sql in attempts:',
      '        try:',
      '            conn.query(sql) if sql.startswith("SELECT") else conn.execute(sql)',
      '            codes.append("ran")',
      '        except insitu.InsituError as e:',
      '            codes.append(e.code)',
      '    return codes',
    ].join('\n');
    await bob.scheduler.create({ name: 'attack', func: { source }, positional: [attempts], schedule: { every: '1h' }, context: 'write' });
    await bob.scheduler.runNow('attack');
    const [run] = await runsEnded(bob, 'attack', 1);
    expect(run!.state).toBe('succeeded');
    const codes = (await bob.jobs.result(run!.jobId!)).value as string[];
    expect(codes).toHaveLength(attempts.length);
    for (const [i, code] of codes.entries()) expect(['PRIVILEGE', 'BAD_INPUT'], attempts[i]).toContain(code);
    expect(await me.scheduler.get('private')).toEqual(before);
    expect((await me.scheduler.list()).map((s) => s.name)).not.toContain('x');
  });

  it('a dropped user\'s schedules are dropped with them and fire no more', async () => {
    const carol = engine.session({ user: 'carol' });
    await carol.scheduler.create({ name: 'carols', func: HELLO, schedule: { every: '1m' }, enabled: true });
    await engine.users.drop('carol');
    advance(3_600_000);
    await engine.scheduler.tick();
    // Nothing ran as carol (in open mode a run as her would have registered her again).
    expect((await engine.users.list()).map((u) => u.name)).not.toContain('carol');
    expect(await carol.scheduler.list()).toEqual([]);
    expect(await carol.scheduler.runs()).toEqual([]);
  });
});

describe('bad input', () => {
  it('is refused at create time with a typed error, and nothing is stored', async () => {
    const ok = { name: 'bad', func: 'hello', schedule: { every: '1h' } };
    const before = await me.scheduler.list();
    const cases: [unknown, string, RegExp][] = [
      [{ ...ok, name: 'a b' }, 'BAD_INPUT', /schedule/],
      [{ ...ok, name: 'insitu_x' }, 'BAD_INPUT', /schedule/],
      [{ ...ok, schedule: { every: 'soon' } }, 'BAD_INPUT', /^schedule\.every/],
      [{ ...ok, schedule: { cron: '61 * * * *' } }, 'BAD_INPUT', /^schedule\.cron/],
      [{ ...ok, schedule: { cron: '0 3 * * *', tz: 'Nowhere/Town' } }, 'BAD_INPUT', /^schedule\.tz/],
      [{ ...ok, schedule: { at: 'tomorrow' } }, 'BAD_INPUT', /^schedule\.at/],
      [{ ...ok, func: 'no_such_script' }, 'SCRIPT_NOT_FOUND', /no_such_script/],
      [{ ...ok, kind: 'tableApply', data: me.table('NO_SUCH_TABLE') }, 'TABLE_NOT_FOUND', /NO_SUCH_TABLE/],
      [{ ...ok, kind: 'nope' }, 'BAD_INPUT', /^kind/],
      [{ ...ok, args: { a: 1 }, options: { args: { a: 2 } } }, 'BAD_INPUT', /given twice/],
      [{ ...ok, positional: 'x' }, 'BAD_INPUT', /^positional/],
      [{ ...ok, context: 'admin' }, 'BAD_INPUT', /context/],
      [{ ...ok, maxRuns: 0 }, 'BAD_INPUT', /^maxRuns/],
      [{ ...ok, options: { timeoutMs: 50_000_000 } }, 'BAD_INPUT', /maxJobTimeoutMs/],
      [{ ...ok, enabled: 'yes' }, 'BAD_INPUT', /^enabled/],
      [{ ...ok, when: 'now' }, 'BAD_INPUT', /^when is not a field/],
      [{ ...ok, schedule: undefined }, 'BAD_INPUT', /^schedule must be/],
    ];
    for (const [spec, code, message] of cases) {
      const e = await rejectsWith(me.scheduler.create(spec as never), code);
      expect(e.message, JSON.stringify(spec)).toMatch(message);
    }
    await me.scheduler.create(ok);
    await rejectsWith(me.scheduler.create(ok), 'ALREADY_EXISTS');
    await me.scheduler.drop('bad');
    expect(await me.scheduler.list()).toEqual(before);
    await rejectsWith(me.scheduler.get('a b'), 'BAD_INPUT');
    await rejectsWith(me.scheduler.runs({ limit: -1 }), 'BAD_INPUT');
  });
});
