// A failed partition writes nothing: each partition's insitu.connect() writes and insitu.ds saves and
// deletes commit only when that partition succeeds, and a failed or cancelled call names the partitions
// that committed (error.committedPartitions). In both OS-sandbox settings of the default isolation, and
// in 'thread' mode, where the engine's main thread and the workers share one process.
import type { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type InsituError, type Session } from 'insitu';
import { ON_POSTGRES } from './backend.js';
import { rejectsWith, tempDatabase } from './helpers.js';

const MODES = [
  { isolation: 'process', osSandbox: 'bubblewrap' },
  { isolation: 'process', osSandbox: 'none' },
  { isolation: 'thread', osSandbox: 'none' },
] as const;

describe.each(MODES)('partition atomicity (isolation: $isolation, osSandbox: $osSandbox)', ({ isolation, osSandbox }) => {
  let engine: Engine;
  let me: Session;
  const db = tempDatabase();

  beforeAll(async () => {
    engine = await createEngine({ database: db.path, workers: 2, isolation, osSandbox });
    me = engine.session({ user: 'alice' });
    await me.create('SRC', [{ v: 1 }, { v: 2 }, { v: 3 }]);
  });
  afterAll(async () => {
    await engine?.close();
    db.cleanup();
  });

  /** A fresh, empty table OUT(v) for one test. */
  async function emptyOut(name: string): Promise<void> {
    await me.create(name, [{ v: 0 }], { overwrite: true });
    await me.doEval({ source: `import insitu\ndef f():\n    insitu.connect().execute("DELETE FROM ${name}")` }, { context: 'write' });
  }

  async function values(name: string): Promise<number[]> {
    const rows = (await me.query(`SELECT v FROM ${name} ORDER BY v`).pull()).toArray();
    return rows.map((r) => Number(r.v));
  }

  async function datastores(): Promise<string[]> {
    return (await me.datastores.list()).map((d) => d.name);
  }

  it('insert then raise leaves nothing, and neither does a save before the raise', async () => {
    await emptyOut('OUT1');
    const src = `import insitu
def f():
    insitu.connect().execute("INSERT INTO OUT1 VALUES (42)")
    insitu.ds.save({"x": 1}, "half_done")
    raise ValueError("after the writes")`;
    const e = await rejectsWith(me.doEval({ source: src }, { context: 'write' }), 'PYTHON_ERROR');
    expect(e.committedPartitions).toEqual([]);
    expect(await values('OUT1')).toEqual([]);
    expect(await datastores()).not.toContain('half_done');
  });

  it('a partition reads its own writes and the next partition sees the committed ones', async () => {
    await emptyOut('OUT2');
    const src = `import insitu
def f(df):
    c = insitu.connect()
    v = int(df["v"][0])
    c.execute("INSERT INTO OUT2 VALUES (?)", [v])
    insitu.ds.save({"v": v}, f"seen_{v}")
    return {"v": [v], "rows": [len(c.query("SELECT v FROM OUT2"))], "ds": [insitu.ds.load(f"seen_{v}")["v"]]}`;
    const res = await me.rowApply(me.table('SRC'), { source: src }, { rows: 1, parallel: false, context: 'write' });
    expect((res.value as Table).toArray().map((r: { v: unknown; rows: unknown; ds: unknown }) => [Number(r.v), Number(r.rows), Number(r.ds)])).toEqual([
      [1, 1, 1],
      [2, 2, 2],
      [3, 3, 3],
    ]);
  });

  it('a 3-partition rowApply whose third partition fails keeps exactly the first two and says so', async () => {
    await emptyOut('OUT3');
    const src = `import insitu
def f(df):
    v = int(df["v"][0])
    insitu.connect().execute("INSERT INTO OUT3 VALUES (?)", [v])
    insitu.ds.save({"v": v}, f"part_{v}", overwrite=True)
    if v == 3:
        raise RuntimeError("the third partition fails")
    return v`;
    const keys = (await me.rowApply(me.table('SRC'), { source: 'def f(df):\n    return 0' }, { rows: 1 })).partitions.map((p) => p.key);
    const e = await rejectsWith(me.rowApply(me.table('SRC'), { source: src }, { rows: 1, parallel: false, context: 'write' }), 'PYTHON_ERROR');
    expect(e.partition).toEqual(keys[2]);
    expect(e.committedPartitions).toEqual(keys.slice(0, 2));
    expect(await values('OUT3')).toEqual([1, 2]);
    const names = await datastores();
    expect(names).toContain('part_1');
    expect(names).toContain('part_2');
    expect(names).not.toContain('part_3');
  });

  it('a failing group leaves exactly the rows of the groups it names as committed', async () => {
    await emptyOut('OUT4');
    await me.create('GRP', Array.from({ length: 60 }, (_, i) => ({ g: i % 6, x: i })), { overwrite: true });
    const src = `import insitu
def f(df):
    g = int(df["g"][0])
    insitu.connect().execute("INSERT INTO OUT4 VALUES (?)", [g])
    if g == 4:
        raise RuntimeError("group 4 fails")
    return {"n": [len(df)]}`;
    const e = await rejectsWith(me.groupApply(me.table('GRP'), 'g', { source: src }, { parallel: true, context: 'write' }), 'PYTHON_ERROR');
    const committed = (e.committedPartitions ?? []).map((k) => Number((k as { g: unknown }).g));
    expect(committed).not.toContain(4);
    // Groups of one batch (one Python call) commit together. On SQLite the workers read two key ranges,
    // and the range without group 4 commits whole; on PostgreSQL the engine reads the groups and sends
    // these six small ones as one task (one batch), so all of them roll back.
    if (ON_POSTGRES) expect(committed).toEqual([]);
    else expect(committed.length).toBeGreaterThan(0);
    expect(await values('OUT4')).toEqual(committed.sort((a, b) => a - b));
  });

  it('groups the engine reads are packed into batches of about 64k rows that commit together', async () => {
    await emptyOut('OUT7');
    // Group 0 fills a batch on its own (65,536 rows); groups 1-5 are the next batch, where group 4 fails.
    const rows = [...Array.from({ length: 65_536 }, (_, x) => ({ g: 0, x })), ...Array.from({ length: 50 }, (_, i) => ({ g: 1 + (i % 5), x: i }))];
    await me.create('BIG', rows, { overwrite: true });
    const src = `import insitu
def f(df):
    g = int(df["g"][0])
    insitu.connect().execute("INSERT INTO OUT7 VALUES (?)", [g])
    if g == 4:
        raise RuntimeError("group 4 fails")
    return {"n": [len(df)]}`;
    // A query proxy: its groups are read by the engine on both backends.
    const data = me.query('SELECT g, x FROM BIG');
    const e = await rejectsWith(me.groupApply(data, 'g', { source: src }, { parallel: false, context: 'write' }), 'PYTHON_ERROR');
    expect(e.message).toContain('group 4 fails');
    expect((e.committedPartitions ?? []).map((k) => Number((k as { g: unknown }).g))).toEqual([0]);
    // Group 0's batch committed; groups 1-3 ran in group 4's batch and rolled back with it.
    expect(await values('OUT7')).toEqual([0]);
    // Each group still ran on its own rows.
    const ok = await me.groupApply(data, 'g', { source: 'def f(df):\n    return {"n": [len(df)], "g": [int(df["g"][0])]}' });
    expect((ok.value as Table).toArray().map((r) => [Number(r.g), Number(r.n)])).toEqual([[0, 65_536], [1, 10], [2, 10], [3, 10], [4, 10], [5, 10]]);
  });

  it('a timed-out call keeps only the partitions that finished and names them', async () => {
    await emptyOut('OUT5');
    const src = `import insitu, time
def f(i):
    insitu.connect().execute("INSERT INTO OUT5 VALUES (?)", [i])
    if i == 2:
        time.sleep(30)
    return i`;
    const e = await rejectsWith(me.indexApply(3, { source: src }, { parallel: false, context: 'write', timeoutMs: 2000 }), 'TIMEOUT');
    expect(e.committedPartitions).toEqual([1]);
    expect(await values('OUT5')).toEqual([1]);
  });

  // SQLite has one write lock per database: the partitions and the engine's own writes take turns.
  // PostgreSQL locks rows: the engine's save goes through at once, the partitions still commit whole.
  it('writing partitions in parallel wait for each other (SQLite) or not (PostgreSQL), and the engine waits for them without blocking its thread', async () => {
    await emptyOut('OUT6');
    const src = `import insitu, time
def f(i):
    insitu.connect().execute("INSERT INTO OUT6 VALUES (?)", [i])
    time.sleep(1.2)
    return i`;
    const call = me.indexApply(2, { source: src }, { parallel: true, context: 'write' });
    // While a partition holds the write lock, the engine's own connection writes (a datastore save from
    // the host): it waits for the partitions to end (they need nothing from the engine to end), and the
    // engine's thread stays free meanwhile (a timer fires on time).
    await new Promise((r) => setTimeout(r, 400));
    const started = Date.now();
    let timerAfter = Number.POSITIVE_INFINITY;
    setTimeout(() => (timerAfter = Date.now() - started), 50);
    await me.datastores.save('from_host', { x: 1 }, { overwrite: true });
    const waited = Date.now() - started;
    const res = await call;
    expect(res.value).toEqual([1, 2]);
    expect(await values('OUT6')).toEqual([1, 2]);
    expect(await datastores()).toContain('from_host');
    if (ON_POSTGRES) expect(waited).toBeLessThan(500);
    else expect(waited).toBeGreaterThan(500);
    expect(waited).toBeLessThan(4000);
    expect(timerAfter).toBeLessThan(300);
  });

  // Both change the one row: on SQLite the second waits for the database's write lock, on PostgreSQL for the row's.
  it('a partition waiting for the write lock stops when its call times out', async () => {
    await me.create('OUT7', [{ v: 0 }], { overwrite: true });
    const holder = me.doEval({ source: 'import insitu, time\ndef f():\n    insitu.connect().execute("UPDATE OUT7 SET v = 1")\n    time.sleep(3)' }, { context: 'write' });
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    const waiter = me.doEval({ source: 'import insitu\ndef f():\n    insitu.connect().execute("UPDATE OUT7 SET v = 2")' }, { context: 'write', timeoutMs: 500 });
    const e = await rejectsWith(waiter, 'TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(e.committedPartitions).toEqual([]);
    await holder;
    expect(await values('OUT7')).toEqual([1]);
  });

  // Groups a worker reads itself stream from their own statement while their UDF runs: the UDF's
  // queries, writes and datastore calls use another connection (one reading a statement can run no other).
  it.runIf(osSandbox === 'bubblewrap')('groups read in several batches can query, write and save while their rows stream', async () => {
    await emptyOut('OUT8');
    await me.create('BIG', Array.from({ length: 320_000 }, (_, i) => ({ a: i % 2, b: Math.floor(i / 20_000), x: i })), { overwrite: true });
    const src = `import insitu
def f(df):
    c = insitu.connect()
    c.execute("INSERT INTO OUT8 VALUES (?)", [len(c.query("SELECT 1 FROM OUT8"))])
    insitu.ds.save({"n": len(df)}, "big_groups", overwrite=True)
    return {"n": [len(df)]}`;
    const res = await me.groupApply(me.table('BIG'), ['a', 'b'], { source: src }, { parallel: true, context: 'write' });
    expect((res.value as Table).numRows).toBe(32);
    expect((await values('OUT8')).length).toBe(32);
    expect(await me.datastores.load('big_groups')).toEqual({ n: 10_000 });
  });

  it('a failed call keeps nothing of a datastore delete', async () => {
    await me.datastores.save('keep_me', { a: 1, b: 2 }, { overwrite: true });
    const src = `import insitu
def f():
    insitu.ds.delete("keep_me", objs=["a"])
    assert "a" not in insitu.ds.load("keep_me")
    raise ValueError("undo the delete")`;
    const e: InsituError = await rejectsWith(me.doEval({ source: src }), 'PYTHON_ERROR');
    expect(e.committedPartitions).toEqual([]);
    expect(Object.keys(await me.datastores.load('keep_me')).sort()).toEqual(['a', 'b']);
  });
});
