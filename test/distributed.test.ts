import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tableFromArrays, type Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session } from 'insitu';
import { tempDatabase } from './helpers.js';
import { rawQuery } from './raw-database.js';

// Several engines on one database, each a separate Node process (test/fixtures/engine-server.mjs, one
// worker each, serving distributed partitions and running jobs), and this file's own engine as the caller.
// Runs on both backends: several processes on one SQLite file are a legitimate single-machine setup.
const SERVER = fileURLToPath(new URL('./fixtures/engine-server.mjs', import.meta.url));
const db = tempDatabase();
let engine: Engine;
let alice: Session;

interface Child {
  readonly proc: ChildProcess;
  readonly engineId: string;
}
const children: Child[] = [];

/** Start an engine process on the database; resolves once its worker answered a call. */
function startServer(): Promise<Child> {
  const proc = spawn(process.execPath, [SERVER, db.path, JSON.stringify({ maxConcurrentJobs: 3 })], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /ready (\S+)\n/.exec(out);
      if (m !== null) resolve({ proc, engineId: m[1]! });
    });
    proc.on('exit', (code) => reject(new Error(`engine process exited with ${String(code)} before it was ready`)));
  });
}

function kill(child: Child): Promise<void> {
  return new Promise((resolve) => {
    child.proc.on('exit', () => resolve());
    child.proc.kill('SIGKILL');
  });
}

/** Which child process runs as `engineId`. */
function childOf(engineId: string | null | undefined): Child | undefined {
  return children.find((c) => c.engineId === engineId);
}

const ROWS = 200_000;

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 1, maxConcurrentJobs: 0, serve: { leaseMs: 1500, pollMs: 50 } });
  alice = engine.session({ user: 'alice' });
  const x = Float64Array.from({ length: ROWS }, (_, i) => i * 0.5);
  const id = Int32Array.from({ length: ROWS }, (_, i) => i);
  await alice.create('POINTS', tableFromArrays({ ID: id, X: x }) as unknown as Table, { overwrite: true });
  children.push(...(await Promise.all([startServer(), startServer(), startServer()])));
}, 180_000);

afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  await engine?.close();
  db.cleanup();
});

const RUN_ONCE = [
  'import insitu, uuid, time',
  'def f(n):',
  '    insitu.ds.save({"n": n}, "run_%d_%s" % (n, uuid.uuid4().hex[:8]))',
  '    time.sleep(0.05)',
  '    return n',
].join('\n');

describe('several engine processes on one database', () => {
  it('run 30 jobs, each exactly once', async () => {
    const ids: string[] = [];
    for (let n = 1; n <= 30; n++) ids.push((await alice.jobs.submit({ kind: 'doEval', func: { source: RUN_ONCE }, options: { args: { n } } })).id);
    const states = await Promise.all(ids.map((id) => alice.jobs.wait(id, { timeoutMs: 90_000 }).then((s) => s.state)));
    expect(states.every((s) => s === 'succeeded')).toBe(true);
    const runs = (await alice.datastores.list()).map((d) => d.name).filter((n) => n.startsWith('run_'));
    const perJob = new Map<string, number>();
    for (const r of runs) perJob.set(r.split('_')[1]!, (perJob.get(r.split('_')[1]!) ?? 0) + 1);
    expect(perJob.size).toBe(30);
    expect([...perJob.values()].every((k) => k === 1)).toBe(true);
  }, 120_000);

  it('fire a schedule ticking every second once per tick across the engines', async () => {
    await alice.scheduler.create({ name: 'tick', kind: 'doEval', func: { source: 'def f():\n    return 1' }, schedule: { every: '1s' }, enabled: true });
    await new Promise((r) => setTimeout(r, 10_000));
    await alice.scheduler.disable('tick');
    // Runs already fired finish; then every tick has one run, with a job of its own.
    await new Promise((r) => setTimeout(r, 1500));
    const runs = (await alice.scheduler.runs({ name: 'tick', limit: 100 })).filter((r) => r.trigger === 'schedule');
    const dues = runs.map((r) => r.due!.getTime());
    expect(new Set(dues).size).toBe(dues.length);
    expect(new Set(runs.map((r) => r.jobId)).size).toBe(runs.length);
    expect(runs.length).toBeGreaterThanOrEqual(8);
    expect(runs.length).toBeLessThanOrEqual(11);
    // One second apart: no tick skipped, none doubled.
    const sorted = [...dues].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 1]!).toBe(1000);
  }, 60_000);

  it('spread a distributed rowApply over 200k rows across processes, with the same table as a local run', async () => {
    const source = [
      'import time',
      'def f(df):',
      '    time.sleep(0.3)',
      '    return {"ID": df["ID"], "Y": [x * 2 for x in df["X"]]}',
    ].join('\n');
    const points = alice.table('POINTS');
    const opts = { rows: 20_000, inputType: 'columns' as const };
    const distributed = await alice.rowApply(points, { source }, { ...opts, distribute: true });
    const local = await alice.rowApply(points, { source }, opts);
    const engines = new Set(distributed.partitions.map((p) => p.engine));
    expect(distributed.partitions).toHaveLength(10);
    expect(distributed.partitions.every((p) => typeof p.engine === 'string')).toBe(true);
    // At least two processes ran partitions (the caller's own engine counts as one).
    expect(engines.size).toBeGreaterThanOrEqual(2);
    expect([...engines].filter((e) => childOf(e) !== undefined).length).toBeGreaterThanOrEqual(1);
    expect(local.partitions.every((p) => p.engine === undefined)).toBe(true);
    const d = distributed.value as Table;
    const l = local.value as Table;
    expect(d.numRows).toBe(ROWS);
    expect(d.getChild('ID')!.toArray()).toEqual(l.getChild('ID')!.toArray());
    expect(d.getChild('Y')!.toArray()).toEqual(l.getChild('Y')!.toArray());
    expect(distributed.partitions.map((p) => (p.key as { chunk: number }).chunk)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  }, 120_000);

  it('group a distributed groupApply as a local run does', async () => {
    await alice.create('SALES', Array.from({ length: 300 }, (_, i) => ({ REGION: `r${i % 5}`, AMOUNT: i })), { overwrite: true });
    const source = 'def f(df):\n    return {"TOTAL": [sum(df["AMOUNT"])]}';
    const sales = alice.table('SALES');
    const distributed = await alice.groupApply(sales, ['REGION'], { source }, { inputType: 'columns', distribute: true });
    const local = await alice.groupApply(sales, ['REGION'], { source }, { inputType: 'columns' });
    expect(distributed.partitions.every((p) => typeof p.engine === 'string')).toBe(true);
    expect((distributed.value as Table).toArray().map((r) => r.toJSON())).toEqual((local.value as Table).toArray().map((r) => r.toJSON()));
  }, 60_000);

  it('report progress of a distributed call, and cancel it on every engine running it', async () => {
    const source = ['import time', 'def f(i):', '    time.sleep(0.1 if i <= 2 else 60)', '    return i'].join('\n');
    const ac = new AbortController();
    const done: number[] = [];
    const call = alice.indexApply(6, { source }, { distribute: true, signal: ac.signal, onProgress: (p) => done.push(p.partitionsDone) });
    const outcome = call.then(
      () => 'resolved',
      (e: { code?: string }) => e.code,
    );
    // Up to 40 s: under load a serving engine may first replace its worker for this user (a fresh interpreter).
    for (let i = 0; i < 1600 && !done.includes(2); i++) await new Promise((r) => setTimeout(r, 25));
    expect(done).toContain(2);
    const t = Date.now();
    ac.abort();
    expect(await outcome).toBe('CANCELLED');
    expect(Date.now() - t).toBeLessThan(2000);
    // The engines that held the 60 s partitions stopped them: a new call gets their workers at once.
    const quick = await alice.indexApply(4, { source: 'def f(i):\n    return i * 10' }, { distribute: true, timeoutMs: 20_000 });
    expect(quick.value).toEqual([10, 20, 30, 40]);
  }, 60_000);

  it('refuses a task row that names a user who may not read its data, or no user at all', async () => {
    const tasks = engine.storage.tasks!;
    const bob = engine.session({ user: 'bob' });
    await bob.create('BOBS', [{ X: 1 }], { overwrite: true });
    const own = bob.table('BOBS').toQuery();
    const points = alice.table('POINTS').limit(5);
    const call = { kind: 'rowApply', data: points.toPlan(), func: { source: 'def f(df):\n    return len(df)' }, options: { distribute: true } };
    const query = points.toQuery();
    const spec = JSON.stringify({ call, key: null, input: { kind: 'query', sql: query.sql, params: [], inputType: 'auto' }, orderWithin: [] });
    // bob's own table as the query, alice's behind it in the statements a worker may read column by column
    // (checked by the serving engine before the task runs, and by the workers' read guard where they read).
    const sneaky = JSON.stringify({
      call: { ...call, data: bob.table('BOBS').toPlan() },
      key: null,
      input: { kind: 'query', sql: own.sql, params: [], byColumn: [`SELECT "X" FROM "POINTS"`], inputType: 'auto' },
      orderWithin: [],
    });
    await tasks.addTasks([
      { call: 'forged', seq: 0, user: 'bob', spec },
      { call: 'forged', seq: 1, user: 'nobody', spec },
      { call: 'forged', seq: 2, user: 'bob', spec: sneaky },
    ], new Date());
    let finished: Awaited<ReturnType<typeof tasks.takeFinished>> = [];
    // Up to 40 s: the serving engines may still be stopping the previous test's cancelled partitions.
    for (let i = 0; i < 1600 && finished.length < 3; i++) {
      finished = [...finished, ...(await tasks.takeFinished('forged'))];
      await new Promise((r) => setTimeout(r, 25));
    }
    const codes = finished.sort((a, b) => a.seq - b.seq).map((f) => ('error' in f.outcome ? f.outcome.error.code : 'ran'));
    expect(codes).toEqual(['TABLE_NOT_FOUND', 'PRIVILEGE', 'TABLE_NOT_FOUND']);
  }, 60_000);

  it('finish a job elsewhere when the process running it is killed with SIGKILL', async () => {
    const source = ['import time', 'def f():', '    time.sleep(3)', '    return "finished"'].join('\n');
    const { id } = await alice.jobs.submit({ kind: 'doEval', func: { source }, retries: 1 });
    let holder: Child | undefined;
    for (let i = 0; i < 400 && holder === undefined; i++) {
      const job = await engine.storage.getJob(id, 'alice');
      if (job?.state === 'running') holder = childOf(job.leaseOwner);
      else await new Promise((r) => setTimeout(r, 25));
    }
    expect(holder).toBeDefined();
    await new Promise((r) => setTimeout(r, 500));
    await kill(holder!);
    const status = await alice.jobs.wait(id, { timeoutMs: 60_000 });
    expect(status.state).toBe('succeeded');
    expect(status.attempts).toBe(2);
    expect((await alice.jobs.result(id)).value).toBe('finished');
  }, 90_000);

  it('complete a distributed call when a serving process is killed with SIGKILL mid-partition', async () => {
    const source = ['import time', 'def f(i):', '    time.sleep(1.5)', '    return i'].join('\n');
    const alive = children.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null);
    expect(alive.length).toBeGreaterThanOrEqual(1);
    const call = alice.indexApply(6, { source }, { distribute: true, timeoutMs: 60_000 });
    // Kill a serving process while it holds a partition (as the queue itself says).
    let victim: Child | undefined;
    for (let i = 0; i < 200 && victim === undefined; i++) {
      const holders = await rawQuery<{ lease_owner: string }>(db.path, `SELECT lease_owner FROM insitu_engine_tasks WHERE state = 'running'`);
      victim = alive.find((c) => holders.some((h) => h.lease_owner === c.engineId));
      if (victim === undefined) await new Promise((r) => setTimeout(r, 25));
    }
    expect(victim).toBeDefined();
    await kill(victim!);
    const result = await call;
    expect(result.value).toEqual([1, 2, 3, 4, 5, 6]);
    expect(result.partitions.some((p) => p.engine === victim!.engineId)).toBe(false);
  }, 90_000);
});
