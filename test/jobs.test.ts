import { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, decodeResult, encodeResult, type ApplyCall, type ApplyProgress, type ApplyResult, type Engine, type JobStatus, type Session, type TableProxy } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

// One engine (two Pyodide workers) for the whole file.
let engine: Engine;
let me: Session;
let data: TableProxy;
const db = tempDatabase();

/** A result as plain data a user compares: tables as schema and rows. */
function plain(r: ApplyResult): unknown {
  const v = (x: unknown): unknown =>
    x instanceof Table ? { fields: x.schema.fields.map((f) => `${f.name}:${String(f.type)}`), rows: x.toArray().map((row) => row.toJSON()) } : x instanceof Uint8Array ? [...x] : x;
  return {
    value: Array.isArray(r.value) ? r.value.map(v) : v(r.value),
    stdout: r.stdout,
    stderr: r.stderr,
    images: r.images.length,
    partitions: r.partitions.map((p) => ({ key: p.key, value: v(p.value), stdout: p.stdout, stderr: p.stderr })),
  };
}

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2 });
  me = engine.session({ user: 'alice' });
  data = await me.create('T', [
    { g: 'b', x: 1, y: 10.5 },
    { g: 'a', x: 2, y: 20.5 },
    { g: 'b', x: 3, y: null },
    { g: 'c', x: 4, y: 40.5 },
    { g: 'a', x: 5, y: 50.5 },
  ]);
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

const TABLE_UDF = { source: 'def f(df):\n    print(len(df))\n    return df' };

describe('a call as a value', () => {
  const cases: [string, () => Promise<ApplyResult>, ApplyCall][] = [];
  beforeAll(() => {
    const narrowed = data.where('x > ?', 1).select(['g', 'x']).orderBy('-x');
    cases.push(
      ['doEval', () => me.doEval({ source: 'def f(a):\n    print("hi")\n    return {"a": a, "b": b"\\x00\\x01".hex()}' }, { args: { a: 3 } }), {
        kind: 'doEval',
        func: { source: 'def f(a):\n    print("hi")\n    return {"a": a, "b": b"\\x00\\x01".hex()}' },
        options: { args: { a: 3 } },
      }],
      ['tableApply', () => me.tableApply(narrowed, TABLE_UDF, { inputType: 'frame' }), { kind: 'tableApply', data: narrowed.toPlan(), func: TABLE_UDF, options: { inputType: 'frame' } }],
      ['rowApply', () => me.rowApply(data, TABLE_UDF, { rows: 2, parallel: true, inputType: 'frame' }), {
        kind: 'rowApply',
        data: data.toPlan(),
        func: TABLE_UDF,
        options: { rows: 2, parallel: true, inputType: 'frame' },
      }],
      ['groupApply', () => me.groupApply(data, 'g', { source: 'def f(df):\n    return len(df)' }, { inputType: 'frame' }), {
        kind: 'groupApply',
        data: data.toPlan(),
        by: ['g'],
        func: { source: 'def f(df):\n    return len(df)' },
        options: { inputType: 'frame' },
      }],
      ['indexApply', () => me.indexApply(3, { source: 'def f(i):\n    return bytes([i])' }), { kind: 'indexApply', times: 3, func: { source: 'def f(i):\n    return bytes([i])' } }],
    );
  });

  it('session.run(call) after a JSON round trip gives what the method gives, for each kind, and the serialised result too', async () => {
    for (const [kind, sync, call] of cases) {
      const want = plain(await sync());
      const viaValue = await me.run(JSON.parse(JSON.stringify(call)) as ApplyCall);
      expect(plain(viaValue), kind).toEqual(want);
      expect(plain(decodeResult(encodeResult(viaValue))), kind).toEqual(want);
    }
  });

  it('a proxy serialises to its plan and back, parameters of every type included', async () => {
    const q = me.query('SELECT ? AS b, ? AS n, ? AS d, ? AS s', [new Uint8Array([0, 255]), 2n ** 60n, new Date('2024-05-06T07:08:09.000Z'), 'x']);
    const plan = JSON.parse(JSON.stringify(q));
    const r = await me.run({ kind: 'tableApply', data: plan, func: { source: 'def f(d):\n    return [d["b"][0].hex(), str(d["n"][0]), d["d"][0], d["s"][0]]' }, options: { inputType: 'columns' } });
    expect(r.value).toEqual(['00ff', String(2n ** 60n), '2024-05-06T07:08:09.000Z', 'x']);
  });

  it('bad call values are BAD_INPUT naming the field, and run nothing', async () => {
    const e = await rejectsWith(me.run({ kind: 'rowApply', data: data.toPlan(), func: 'f', options: { rows: 0 } }), 'BAD_INPUT');
    expect(e.message).toMatch(/^call\.options\.rows must be a positive integer/);
    const f = await rejectsWith(me.run({ kind: 'doEval', func: { source: 'def f():\n    return 1' }, options: { timeoutMs: -1 } }), 'BAD_INPUT');
    expect(f.message).toMatch(/^call\.options\.timeoutMs/);
    await rejectsWith(me.run({ kind: 'tableApply', data: { source: { table: 'insitu_engine_scripts' } }, func: 'f' } as ApplyCall), 'BAD_INPUT');
    // The session methods name their own arguments.
    const g = await rejectsWith(me.rowApply(data, TABLE_UDF, { rows: 1.5 }), 'BAD_INPUT');
    expect(g.message).toMatch(/^rows must be a positive integer/);
  });

  it('onProgress reports rising figures up to the total, for sync calls', async () => {
    const seen: ApplyProgress[] = [];
    await me.indexApply(6, { source: 'import time\ndef f(i):\n    time.sleep(0.06)\n    return i' }, { onProgress: (p) => seen.push(p) });
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.length).toBeLessThanOrEqual(6);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.partitionsDone).toBeGreaterThanOrEqual(seen[i - 1]!.partitionsDone);
    expect(seen.at(-1)).toEqual({ partitionsDone: 6, partitionsTotal: 6, rowsDone: 0 });
    const rows: ApplyProgress[] = [];
    await me.rowApply(data, TABLE_UDF, { rows: 2, onProgress: (p) => rows.push(p) });
    expect(rows.at(-1)).toEqual({ partitionsDone: 3, partitionsTotal: 3, rowsDone: 5 });
    // A throwing listener does not fail the call.
    expect((await me.doEval({ source: 'def f():\n    return 7' }, { onProgress: () => { throw new Error('listener'); } })).value).toBe(7);
  });
});

const SLEEP = { source: 'import time\ndef f(s=30):\n    time.sleep(s)\n    return s' };
const SLEEP_I = { source: 'import time\ndef f(i, s=30):\n    time.sleep(s)\n    return i' };

/** Poll status until `pred` holds (at most `ms`). */
async function until(s: Session, id: string, pred: (st: JobStatus) => boolean, ms = 20_000): Promise<JobStatus> {
  const end = Date.now() + ms;
  for (;;) {
    const st = await s.jobs.status(id);
    if (pred(st)) return st;
    if (Date.now() > end) throw new Error(`job ${id} stayed ${st.state}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('jobs', () => {
  it('submit / wait / status / result for each kind give the sync call\'s result', async () => {
    const cases: ApplyCall[] = [
      { kind: 'doEval', func: { source: 'def f(a):\n    print("hi")\n    return {"a": a}' }, options: { args: { a: 3 } } },
      { kind: 'tableApply', data: data.where('x > ?', 1).toPlan(), func: TABLE_UDF, options: { inputType: 'frame' } },
      { kind: 'rowApply', data: data.toPlan(), func: TABLE_UDF, options: { rows: 2, parallel: true, inputType: 'frame' } },
      { kind: 'groupApply', data: data.toPlan(), by: ['g'], func: TABLE_UDF, options: { inputType: 'frame' } },
      { kind: 'indexApply', times: 3, func: { source: 'def f(i):\n    return bytes([i])' } },
    ];
    for (const call of cases) {
      const want = plain(await me.run(call));
      const { id } = await me.jobs.submit(call.kind === 'tableApply' ? { ...call, data: data.where('x > ?', 1) } : call);
      expect(typeof id).toBe('string');
      const st = await me.jobs.wait(id);
      expect(st).toMatchObject({ id, owner: 'alice', kind: call.kind, state: 'succeeded', attempts: 1 });
      expect(st.started!.getTime()).toBeGreaterThanOrEqual(st.created.getTime());
      expect(st.finished!.getTime()).toBeGreaterThanOrEqual(st.started!.getTime());
      expect(st.elapsedMs).toBe(st.finished!.getTime() - st.started!.getTime());
      expect(st.progress.partitionsDone, call.kind).toBe(want && (want as { partitions: unknown[] }).partitions.length);
      expect(plain(await me.jobs.result(id)), call.kind).toEqual(want);
      expect((await me.jobs.status(id)).func).toBe('<inline>');
    }
  });

  it('a job\'s error is its status error and what result() throws; a TIMEOUT stops it as a sync TIMEOUT does', async () => {
    const { id } = await me.jobs.submit({ kind: 'doEval', func: { source: 'def f():\n    return 1 / 0' } });
    const st = await me.jobs.wait(id);
    expect(st.state).toBe('failed');
    expect(st.error?.code).toBe('PYTHON_ERROR');
    expect(st.error?.pythonType).toBe('ZeroDivisionError');
    await rejectsWith(me.jobs.result(id), 'PYTHON_ERROR');

    const t0 = Date.now();
    const slow = await me.jobs.submit({ kind: 'indexApply', times: 2, func: SLEEP_I, options: { parallel: true, timeoutMs: 500 } });
    const ts = await me.jobs.wait(slow.id);
    expect(ts.state).toBe('timed_out');
    expect(ts.error?.code).toBe('TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(10_000);
    await rejectsWith(me.jobs.result(slow.id), 'TIMEOUT');
    // The workers were freed: a sync call runs at once.
    expect((await me.doEval({ source: 'def f():\n    return 5' }, { timeoutMs: 10_000 })).value).toBe(5);
  });

  it('runs one job at a time in submission order (maxConcurrentJobs 1); NOT_READY until done; sync calls are not starved', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await me.jobs.submit({ kind: 'doEval', func: SLEEP, options: { args: { s: 0.4 } } })).id);
    await until(me, ids[0]!, (s) => s.state === 'running');
    await rejectsWith(me.jobs.result(ids[0]!), 'NOT_READY');
    expect((await me.jobs.status(ids[1]!)).state).toBe('queued');
    expect((await me.jobs.status(ids[1]!)).elapsedMs).toBe(0);
    // A sync call gets the other worker while jobs queue.
    const t0 = Date.now();
    expect((await me.doEval({ source: 'def f():\n    return 1' })).value).toBe(1);
    expect(Date.now() - t0).toBeLessThan(1500);
    const done = await Promise.all(ids.map((id) => me.jobs.wait(id)));
    for (let i = 1; i < done.length; i++) expect(done[i]!.started!.getTime()).toBeGreaterThanOrEqual(done[i - 1]!.finished!.getTime());
    expect(done.map((d) => d.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  });

  it('cancels a queued job at once and a running one as its signal would', async () => {
    const running = await me.jobs.submit({ kind: 'doEval', func: SLEEP });
    const queued = await me.jobs.submit({ kind: 'doEval', func: SLEEP });
    await until(me, running.id, (s) => s.state === 'running');
    const q = await me.jobs.cancel(queued.id);
    expect(q.state).toBe('cancelled');
    expect(q.error?.code).toBe('CANCELLED');
    expect(q.started).toBeNull();
    const t0 = Date.now();
    await me.jobs.cancel(running.id);
    const r = await me.jobs.wait(running.id);
    expect(r.state).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(5000);
    await rejectsWith(me.jobs.result(running.id), 'CANCELLED');
    // Cancelling a finished job changes nothing.
    expect((await me.jobs.cancel(running.id)).state).toBe('cancelled');
  });

  it('stores progress rising to the total', async () => {
    const { id } = await me.jobs.submit({ kind: 'indexApply', times: 8, func: SLEEP_I, options: { args: { s: 0.15 } } });
    const seen: number[] = [];
    for (;;) {
      const st = await me.jobs.status(id);
      seen.push(st.progress.partitionsDone);
      if (st.state !== 'queued' && st.state !== 'running') {
        expect(st.state, st.error?.message).toBe('succeeded');
        expect(st.progress).toEqual({ partitionsDone: 8, partitionsTotal: 8, rowsDone: 0 });
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
    expect(new Set(seen.filter((n) => n > 0 && n < 8)).size).toBeGreaterThanOrEqual(2);
  });

  it('lists own jobs newest first, by state, and deletes them', async () => {
    const a = await me.jobs.submit({ kind: 'doEval', func: { source: 'def f():\n    return 1' } });
    const b = await me.jobs.submit({ kind: 'doEval', func: { source: 'def f():\n    return 2' } });
    await me.jobs.wait(b.id);
    const all = await me.jobs.list();
    expect(all[0]!.id).toBe(b.id);
    expect(all[1]!.id).toBe(a.id);
    expect((await me.jobs.list({ limit: 1 })).map((j) => j.id)).toEqual([b.id]);
    expect((await me.jobs.list({ state: 'failed' })).every((j) => j.state === 'failed')).toBe(true);
    expect((await me.jobs.list({ state: 'failed' })).length).toBeGreaterThanOrEqual(1);
    await me.jobs.delete(a.id);
    await rejectsWith(me.jobs.status(a.id), 'JOB_NOT_FOUND');
    await rejectsWith(me.jobs.delete(a.id), 'JOB_NOT_FOUND');
    expect((await me.jobs.list()).some((j) => j.id === a.id)).toBe(false);
    await rejectsWith(me.jobs.list({ state: 'done' as never }), 'BAD_INPUT');
    await rejectsWith(me.jobs.list({ limit: 0 }), 'BAD_INPUT');
  });

  it('another user\'s job answers exactly like a missing one; a job runs with its owner\'s privileges', async () => {
    const bob = engine.session({ user: 'bob' });
    await me.scripts.create('mine', 'import insitu\ndef mine():\n    insitu.ds.save({"v": 1}, "fromjob", overwrite=True)\n    return insitu.connect().query("SELECT count(*) AS n FROM T")["n"][0]');
    const { id } = await me.jobs.submit({ kind: 'doEval', func: 'mine' });
    const missingId = '00000000-0000-4000-8000-000000000000';
    for (const op of ['status', 'result', 'wait', 'cancel', 'delete'] as const) {
      const other = await rejectsWith(bob.jobs[op](id), 'JOB_NOT_FOUND');
      const missing = await rejectsWith(bob.jobs[op](missingId), 'JOB_NOT_FOUND');
      expect(other.message.replace(id, 'ID'), op).toBe(missing.message.replace(missingId, 'ID'));
    }
    expect((await bob.jobs.list()).length).toBe(0);
    expect((await me.jobs.wait(id)).state).toBe('succeeded');
    expect((await me.jobs.result(id)).value).toBe(5);
    // The datastore was saved as alice, not bob.
    expect((await me.datastores.list()).map((d) => d.name)).toContain('fromjob');
    expect((await bob.datastores.list()).map((d) => d.name)).not.toContain('fromjob');
    // bob cannot submit alice's private script.
    await rejectsWith(bob.jobs.submit({ kind: 'doEval', func: 'mine' }), 'SCRIPT_NOT_FOUND');
  });

  it('refuses bad submissions with a typed error and stores nothing', async () => {
    const before = (await me.jobs.list({ limit: 1000 })).length;
    const bad = async (spec: unknown, code: string, msg?: RegExp) => {
      const e = await rejectsWith(me.jobs.submit(spec as never), code);
      if (msg !== undefined) expect(e.message).toMatch(msg);
    };
    await bad({ kind: 'rowApply', data, func: TABLE_UDF, options: { rows: 0 } }, 'BAD_INPUT', /^call\.options\.rows must be a positive integer/);
    await bad({ kind: 'doEval', func: SLEEP, options: { timeoutMs: 43_200_001 } }, 'BAD_INPUT', /maxJobTimeoutMs/);
    await bad({ kind: 'doEval', func: SLEEP, options: { signal: new AbortController().signal } }, 'BAD_INPUT', /call\.options\.signal/);
    await bad({ kind: 'doEval', func: SLEEP, retries: -1 }, 'BAD_INPUT', /retries/);
    await bad({ kind: 'nope', func: SLEEP }, 'BAD_INPUT', /call\.kind/);
    await bad({ kind: 'doEval', func: 'no_such_script' }, 'SCRIPT_NOT_FOUND');
    await bad({ kind: 'tableApply', data: me.table('NoSuchTable'), func: TABLE_UDF }, 'TABLE_NOT_FOUND');
    await bad({ kind: 'tableApply', data: { source: { sql: 'SELECT * FROM insitu_engine_jobs' } }, func: TABLE_UDF }, 'BAD_INPUT');
    await bad(null, 'BAD_INPUT');
    await rejectsWith(me.jobs.status(42 as never), 'BAD_INPUT');
    expect((await me.jobs.list({ limit: 1000 })).length).toBe(before);
  });

  it('wait() gives up on its own timeout or signal and leaves the job running', async () => {
    const { id } = await me.jobs.submit({ kind: 'doEval', func: SLEEP, options: { args: { s: 2 } } });
    await rejectsWith(me.jobs.wait(id, { timeoutMs: 100 }), 'TIMEOUT');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await rejectsWith(me.jobs.wait(id, { signal: ac.signal }), 'CANCELLED');
    expect(['queued', 'running']).toContain((await me.jobs.status(id)).state);
    expect((await me.jobs.wait(id)).state).toBe('succeeded');
  });
});

describe('jobs under attack', () => {
  it('a job\'s UDF cannot read or change the jobs table, through insitu.connect() with write access either', async () => {
    const bob = engine.session({ user: 'bob' });
    const secret = await me.jobs.submit({ kind: 'doEval', func: { source: 'def f():\n    return "alice-secret"' } });
    await me.jobs.wait(secret.id);
    const attempts = [
      'insitu.connect().query("SELECT * FROM insitu_engine_jobs")',
      'insitu.connect().query("SELECT result FROM main.insitu_engine_jobs")',
      'insitu.connect().execute("UPDATE insitu_engine_jobs SET owner = ?", ["bob"])',
      'insitu.connect().execute("DELETE FROM insitu_engine_jobs")',
      'insitu.connect().execute("INSERT INTO insitu_engine_jobs (id, owner, kind, func, call, state, created, timeout_ms) SELECT id || \'x\', \'bob\', kind, func, call, state, created, timeout_ms FROM insitu_engine_jobs")',
    ];
    for (const attempt of attempts) {
      const { id } = await bob.jobs.submit({ kind: 'doEval', func: { source: `import insitu\ndef f():\n    return ${attempt}` }, options: { context: 'write' } });
      const st = await bob.jobs.wait(id);
      expect(st.state, attempt).toBe('failed');
      expect(['PRIVILEGE', 'BAD_INPUT', 'PYTHON_ERROR'], `${attempt}: ${st.error?.message}`).toContain(st.error?.code);
      expect(st.error?.message, attempt).toMatch(/insitu_|engine table|not allowed/i);
    }
    expect((await bob.jobs.list()).every((j) => j.owner === 'bob')).toBe(true);
    await rejectsWith(bob.jobs.result(secret.id), 'JOB_NOT_FOUND');
    expect((await me.jobs.result(secret.id)).value).toBe('alice-secret');
  });

  it('a job resolves its script with its owner\'s privileges when it runs: a revoked grant fails it', async () => {
    const bob = engine.session({ user: 'bob' });
    await bob.scripts.create('bobs', 'def bobs():\n    return "bob code"');
    await rejectsWith(me.jobs.submit({ kind: 'doEval', func: { name: 'bobs', owner: 'bob' } }), 'SCRIPT_NOT_FOUND');
    await bob.grant({ script: 'bobs', to: 'alice' });
    const blocker = await me.jobs.submit({ kind: 'doEval', func: SLEEP });
    const queued = await me.jobs.submit({ kind: 'doEval', func: { name: 'bobs', owner: 'bob' } });
    await until(me, blocker.id, (s) => s.state === 'running');
    await bob.revoke({ script: 'bobs', to: 'alice' });
    await me.jobs.cancel(blocker.id);
    const st = await me.jobs.wait(queued.id);
    expect(st.state).toBe('failed');
    expect(st.error?.code).toBe('SCRIPT_NOT_FOUND');
  });

  it('one user cannot fill the queue: past maxQueuedJobsPerUser (100) a submit is TOO_MANY_JOBS, and others still submit', async () => {
    const carol = engine.session({ user: 'carol' });
    const running = await carol.jobs.submit({ kind: 'doEval', func: SLEEP });
    await until(carol, running.id, (s) => s.state === 'running');
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push((await carol.jobs.submit({ kind: 'doEval', func: SLEEP })).id);
    const e = await rejectsWith(carol.jobs.submit({ kind: 'doEval', func: SLEEP }), 'TOO_MANY_JOBS');
    expect(e.message).toMatch(/maxQueuedJobsPerUser/);
    expect(await carol.jobs.list({ state: 'queued', limit: 1000 })).toHaveLength(100);
    const other = await me.jobs.submit({ kind: 'doEval', func: SLEEP });
    for (const id of [other.id, ...ids, running.id]) await (id === other.id ? me : carol).jobs.cancel(id);
    expect(await carol.jobs.list({ state: 'queued', limit: 1000 })).toHaveLength(0);
  }, 60_000);
});
