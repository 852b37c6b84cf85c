import { afterAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type EngineOptions, type ScheduleRun } from 'insitu';
import { tempDatabase } from './helpers.js';

// Several engines, one after another and two at once, on one database file and one clock the test
// moves. One worker each.
const T0 = Date.parse('2026-04-01T00:00:00Z');
let now = T0;
const db = tempDatabase();
const open: Engine[] = [];

async function engine(extra: Partial<EngineOptions> = {}): Promise<Engine> {
  const e = await createEngine({ database: db.path, workers: 1, schedulerClock: () => now, schedulerTickMs: 50, ...extra });
  open.push(e);
  return e;
}

afterAll(async () => {
  await Promise.allSettled(open.map((e) => e.close()));
  db.cleanup();
});

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ended = (rs: ScheduleRun[], n: number) => rs.length >= n && rs.every((r) => r.finished !== null);

// Each run adds a row, so the table counts the runs that really ran.
const COUNT_RUN = 'import insitu\n\ndef count_run():\n    insitu.connect().execute("INSERT INTO RUNS (n) VALUES (1)")\n    print("ran")';
const SLOW = 'import time\n\ndef slow():\n    time.sleep(1.5)\n    print("slept")\n    return 1';

describe('schedules on one file shared by engines', () => {
  it('close({ jobs: "wait" }) lets a running run finish; missed runs fire once at the next open; two engines fire each due run once', async () => {
    const a = await engine();
    const me = a.session({ user: 'alice' });
    await me.create('RUNS', [{ n: 0 }]);
    await me.scripts.create('count_run', COUNT_RUN);
    await me.scripts.create('slow', SLOW);
    await me.scheduler.create({ name: 'count', func: 'count_run', schedule: { every: '10m' }, context: 'write', enabled: true });
    await me.scheduler.create({ name: 'slow', func: 'slow', schedule: { every: '1d' } });
    const slowJob = await me.scheduler.runNow('slow');
    await until(() => me.jobs.status(slowJob), (s) => s.state === 'running', 'the slow run to start');
    await a.close({ jobs: 'wait' });

    // Two hours (12 slots) pass with no engine open; then two engines open at once.
    now += 2 * 3_600_000;
    const [b1, b2] = await Promise.all([engine(), engine()]);
    const s1 = b1!.session({ user: 'alice' });
    const s2 = b2!.session({ user: 'alice' });
    expect((await until(() => s1.scheduler.runs({ name: 'slow' }), (rs) => ended(rs, 1), 'the slow run'))[0]).toMatchObject({
      jobId: slowJob,
      state: 'succeeded',
      stdout: 'slept\n',
    });
    let runs = await until(() => s1.scheduler.runs({ name: 'count' }), (rs) => ended(rs, 1), 'the missed run');
    expect(runs).toHaveLength(1);
    expect(runs[0]!.due).toEqual(new Date(T0 + 600_000));
    expect((await s2.scheduler.get('count')).nextRun).toEqual(new Date(T0 + 13 * 600_000));

    // Both engines tick every 50 ms: each slot fires once, whichever claims it.
    for (let slot = 13; slot <= 17; slot++) {
      now = T0 + slot * 600_000;
      runs = await until(() => s2.scheduler.runs({ name: 'count' }), (rs) => ended(rs, slot - 11), `slot ${slot}`);
    }
    await new Promise((r) => setTimeout(r, 300)); // more ticks of both engines at the last slot
    runs = await s1.scheduler.runs({ name: 'count' });
    expect(runs.map((r) => r.due!.getTime())).toEqual([17, 16, 15, 14, 13, 1].map((k) => T0 + k * 600_000));
    expect(runs.every((r) => r.state === 'succeeded')).toBe(true);
    expect(new Set(runs.map((r) => r.jobId)).size).toBe(6);
    expect(await s1.query('SELECT n FROM RUNS WHERE n = 1').count()).toBe(6);
    await s1.scheduler.disable('count');

    // close() (default: interrupt) ends a running run as failed INTERRUPTED, never leaving it running.
    await b1!.close();
    const jobId = await s2.scheduler.runNow('slow');
    await until(() => s2.jobs.status(jobId), (s) => s.state === 'running', 'the second slow run to start');
    await b2!.close();
    const c = await engine();
    const sc = c.session({ user: 'alice' });
    const [last] = await sc.scheduler.runs({ name: 'slow' });
    expect(last).toMatchObject({ jobId, state: 'failed' });
    expect(last!.error?.code).toBe('INTERRUPTED');
    expect((await sc.scheduler.runs()).filter((r) => r.state === 'running' || r.state === 'queued')).toEqual([]);
  });
});
