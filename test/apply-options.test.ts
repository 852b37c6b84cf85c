import { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, decodeResult, encodeResult, InsituError, type Engine, type Session, type TableProxy } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

// naOmit, orderBy within partitions and onError, on one engine (two workers, a database file, so
// plain table scans are read by the workers themselves).
let engine: Engine;
let me: Session;
let t: TableProxy;
let big: TableProxy;
const db = tempDatabase();

const rowsOf = (v: unknown) => (v as Table).toArray().map((r) => r.toJSON());

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2 });
  me = engine.session({ user: 'alice' });
  t = await me.create('T', [
    { g: 'b', x: 1, y: 10.5 },
    { g: 'a', x: 2, y: 20.5 },
    { g: 'b', x: 3, y: null },
    { g: null, x: 4, y: 40.5 },
    { g: 'a', x: 5, y: 50.5 },
    { g: 'b', x: 6, y: 60.5 },
  ]);
  big = await me.create(
    'BIG',
    Array.from({ length: 3000 }, (_, i) => ({ id: i + 1, k: i % 3, v: i % 10 === 0 ? null : i })),
  );
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

describe('naOmit', () => {
  it('drops rows with a NULL in any column before tableApply sees them', async () => {
    const r = await me.tableApply(t, { source: 'def f(df):\n    return list(df["x"])' }, { inputType: 'frame', naOmit: true });
    expect(r.value).toEqual([1, 2, 5, 6]);
  });

  it('makes rowApply chunk keys and row counts count the kept rows only', async () => {
    const r = await me.rowApply(t, { source: 'def f(df):\n    return len(df)' }, { rows: 3, naOmit: true, inputType: 'frame' });
    expect(r.partitions.map((p) => p.key)).toEqual([
      { chunk: 1, start: 0, rows: 3 },
      { chunk: 2, start: 3, rows: 1 },
    ]);
    expect(r.value).toEqual([3, 1]);
  });

  it('drops NULLs from groups (a NULL key is no group) in groupApply, and only when asked', async () => {
    const f = { source: 'def f(df):\n    return {"n": [len(df)]}' };
    const kept = await me.groupApply(t, ['g'], f, { naOmit: true, inputType: 'frame' });
    expect(rowsOf(kept.value)).toEqual([
      { g: 'a', n: 2 },
      { g: 'b', n: 2 },
    ]);
    const all = await me.groupApply(t, ['g'], f, { inputType: 'frame' });
    expect(rowsOf(all.value).map((r) => r.g)).toEqual([null, 'a', 'b']);
  });

  it('drops rows in the chunks the workers read themselves (1024-row chunks of a plain table)', async () => {
    const r = await me.rowApply(big, { source: 'def f(df):\n    return sum(1 for v in df["v"] if v is None)' }, { rows: 1024, naOmit: true, parallel: true, inputType: 'frame' });
    expect(r.value).toEqual([0, 0, 0]);
    expect(r.partitions.map((p) => (p.key as { rows: number }).rows)).toEqual([1024, 1024, 2700 - 2048]);
  });

  it('applies after a limit: the limited rows lose their NULL rows', async () => {
    const r = await me.tableApply(t.limit(3), { source: 'def f(df):\n    return list(df["x"])' }, { naOmit: true, inputType: 'frame' });
    expect(r.value).toEqual([1, 2]);
  });

  it('is refused by doEval and indexApply, and must be a boolean', async () => {
    await rejectsWith(me.run({ kind: 'doEval', func: { source: 'def f():\n    return 1' }, options: { naOmit: true } }), 'BAD_INPUT');
    await rejectsWith(me.indexApply(2, { source: 'def f(i):\n    return i' }, { naOmit: true } as never), 'BAD_INPUT');
    const e = await rejectsWith(me.tableApply(t, { source: 'def f(df):\n    return 1' }, { naOmit: 'yes' as never }), 'BAD_INPUT');
    expect(e.message).toContain('naOmit must be true or false');
  });
});

describe('orderBy within partitions', () => {
  const ORDER = 'def f(df):\n    return {"xs": [list(df["x"])]}\n';

  it('orders the rows inside each group (groupApply), descending with -COL', async () => {
    const r = await me.groupApply(t, ['g'], { source: 'def f(df):\n    return list(df["x"])' }, { orderBy: ['-x'], inputType: 'frame' });
    expect(r.partitions.map((p) => [p.key, p.value])).toEqual([
      [{ g: null }, [4]],
      [{ g: 'a' }, [5, 2]],
      [{ g: 'b' }, [6, 3, 1]],
    ]);
  });

  it('orders within the groups the workers read themselves (a plain table, numeric key)', async () => {
    const r = await me.groupApply(big, ['k'], { source: 'def f(df):\n    ids = list(df["id"])\n    return {"first": [ids[0]], "last": [ids[-1]], "sorted": [ids == sorted(ids, reverse=True)]}' }, { orderBy: ['-id'], parallel: true, inputType: 'frame' });
    expect(rowsOf(r.value)).toEqual([
      { k: 0, first: 2998, last: 1, sorted: true },
      { k: 1, first: 2999, last: 2, sorted: true },
      { k: 2, first: 3000, last: 3, sorted: true },
    ]);
  });

  it('orders the rows inside each chunk and keeps chunks in table order (rowApply)', async () => {
    const r = await me.rowApply(t, { source: 'def f(df):\n    return list(df["y"])' }, { rows: 3, orderBy: ['y'], inputType: 'frame' });
    // NULL first ascending, as SQLite orders it; the second chunk still holds rows 4..6.
    expect(r.value).toEqual([[null, 10.5, 20.5], [40.5, 50.5, 60.5]]);
    const several = await me.rowApply(t, { source: 'def f(df):\n    return list(zip(df["g"], df["x"]))' }, { rows: 6, orderBy: ['g', '-x'], inputType: 'frame' });
    expect(several.value).toEqual([[[null, 4], ['a', 5], ['a', 2], ['b', 6], ['b', 3], ['b', 1]]]);
  });

  it('orders worker-read chunks of a plain table', async () => {
    const r = await me.rowApply(big, { source: 'def f(df):\n    return list(df["id"])[:2]' }, { rows: 1024, orderBy: ['-id'], parallel: true, inputType: 'frame' });
    expect(r.value).toEqual([[1024, 1023], [2048, 2047], [3000, 2999]]);
  });

  it('refuses an unknown column and the calls that take no orderBy, running nothing', async () => {
    const e = await rejectsWith(me.groupApply(t, ['g'], { source: ORDER }, { orderBy: ['nosuch'] }), 'BAD_INPUT');
    expect(e.message).toContain('orderBy column "nosuch" is not among the data\'s columns');
    await rejectsWith(me.tableApply(t, { source: ORDER }, { orderBy: ['x'] } as never), 'BAD_INPUT');
    await rejectsWith(me.rowApply(t, { source: ORDER }, { orderBy: [] }), 'BAD_INPUT');
    await rejectsWith(me.rowApply(t, { source: ORDER }, { orderBy: ['x; drop table T'] }), 'BAD_INPUT');
    expect(await t.count()).toBe(6);
  });
});

describe('onError', () => {
  const FAILS_ON_3 = 'def f(df):\n    x = list(df["x"])\n    if 3 in x:\n        raise ValueError("three")\n    return {"s": [sum(x)]}\n';

  it("'skip' leaves failing chunks out and lists them with their key and typed error", async () => {
    const r = await me.rowApply(t, { source: FAILS_ON_3 }, { rows: 2, onError: 'skip', inputType: 'frame' });
    expect(rowsOf(r.value)).toEqual([{ s: 3 }, { s: 11 }]);
    expect(r.partitions.map((p) => p.key)).toEqual([
      { chunk: 1, start: 0, rows: 2 },
      { chunk: 3, start: 4, rows: 2 },
    ]);
    expect(r.failed).toHaveLength(1);
    const [f] = r.failed!;
    expect(f!.key).toEqual({ chunk: 2, start: 2, rows: 2 });
    expect(f!.error).toBeInstanceOf(InsituError);
    expect(f!.error.code).toBe('PYTHON_ERROR');
    expect(f!.error.pythonType).toBe('ValueError');
    expect(f!.error.line).toBe(4);
    expect(f!.error.traceback).toContain('line 4');
  });

  it("'null' holds a null for each failed partition (groupApply, indexApply)", async () => {
    const g = await me.groupApply(t, ['g'], { source: FAILS_ON_3 }, { onError: 'null', inputType: 'frame' });
    expect(g.partitions.map((p) => p.key)).toEqual([{ g: null }, { g: 'a' }, { g: 'b' }]);
    expect(g.value).toHaveLength(3);
    expect((g.value as unknown[])[2]).toBeNull();
    expect(g.failed!.map((f) => f.key)).toEqual([{ g: 'b' }]);
    const i = await me.indexApply(4, { source: 'def f(i):\n    return 10 // (i - 2)' }, { onError: 'null', parallel: true });
    expect(i.value).toEqual([-10, null, 10, 5]);
    expect(i.failed!.map((f) => [f.key, f.error.pythonType])).toEqual([[2, 'ZeroDivisionError']]);
  });

  it('gives an empty failed list when nothing failed, and no failed field without onError', async () => {
    const ok = await me.indexApply(2, { source: 'def f(i):\n    return i' }, { onError: 'skip' });
    expect(ok.failed).toEqual([]);
    expect(ok.value).toEqual([1, 2]);
    expect((await me.indexApply(2, { source: 'def f(i):\n    return i' })).failed).toBeUndefined();
  });

  it("'fail' (the default) fails the call at the first failing partition", async () => {
    const e = await rejectsWith(me.rowApply(t, { source: FAILS_ON_3 }, { rows: 2, inputType: 'frame' }), 'PYTHON_ERROR');
    expect(e.partition).toEqual({ chunk: 2, start: 2, rows: 2 });
  });

  it('a failed partition writes nothing while the others commit', async () => {
    await me.create('LOG', [{ g: 'x', n: 0 }], { overwrite: true });
    const src = [
      'import insitu',
      'def f(df):',
      '    conn = insitu.connect()',
      '    g = df["g"][0]',
      '    conn.execute("INSERT INTO LOG VALUES (?, ?)", [g, len(df)])',
      '    if g == "a":',
      '        raise RuntimeError("no a")',
      '    return len(df)',
    ].join('\n');
    const r = await me.groupApply(t.where('g IS NOT NULL'), ['g'], { source: src }, { onError: 'skip', context: 'write', inputType: 'frame' });
    expect(r.value).toEqual([3]);
    expect(r.failed!.map((f) => f.key)).toEqual([{ g: 'a' }]);
    expect(rowsOf(await me.table('LOG').orderBy('g').pull())).toEqual([
      { g: 'b', n: 3 },
      { g: 'x', n: 0 },
    ]);
  });

  it('still fails the call for a script that does not compile, and for cancellation', async () => {
    await rejectsWith(me.indexApply(2, { source: 'def f(i):\n    return (' }, { onError: 'skip' }), 'BAD_INPUT');
    const ac = new AbortController();
    const p = me.indexApply(3, { source: 'import time\ndef f(i):\n    time.sleep(5)\n    return i' }, { onError: 'skip', signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    await rejectsWith(p, 'CANCELLED');
  });

  it('is part of the call value: validated, JSON round-tripped, and kept by encodeResult', async () => {
    const e = await rejectsWith(me.run({ kind: 'indexApply', times: 2, func: { source: 'def f(i):\n    return i' }, options: { onError: 'ignore' as never } }), 'BAD_INPUT');
    expect(e.message).toContain("call.options.onError must be one of 'fail', 'skip', 'null'");
    await rejectsWith(me.run({ kind: 'doEval', func: { source: 'def f():\n    return 1' }, options: { onError: 'skip' } }), 'BAD_INPUT');
    const call = JSON.parse(
      JSON.stringify({ kind: 'rowApply', data: t, func: { source: FAILS_ON_3 }, options: { rows: 2, onError: 'null', naOmit: true, orderBy: ['-x'], inputType: 'frame' } }),
    );
    const r = await me.run(call);
    // naOmit keeps x = 1, 2, 5, 6 (x = 3 has a NULL y; g is NULL at x = 4): no chunk fails.
    expect(r.failed).toEqual([]);
    const failing = await me.run({ ...call, options: { rows: 2, onError: 'null', inputType: 'frame' } });
    const back = decodeResult(encodeResult(failing));
    const [a, , c] = back.value as Table[];
    expect([rowsOf(a), (back.value as unknown[])[1], rowsOf(c)]).toEqual([[{ s: 3 }], null, [{ s: 11 }]]);
    expect(back.failed!.map((f) => [f.key, f.error.code, f.error.pythonType, f.error.partition])).toEqual([
      [{ chunk: 2, start: 2, rows: 2 }, 'PYTHON_ERROR', 'ValueError', { chunk: 2, start: 2, rows: 2 }],
    ]);
    expect(back.failed![0]!.error).toBeInstanceOf(InsituError);
  });

  it('works for jobs: a job with onError succeeds and its result lists the failed partition', async () => {
    const { id } = await me.jobs.submit({ kind: 'indexApply', times: 3, func: { source: 'def f(i):\n    assert i != 2\n    return i' }, options: { onError: 'skip' } });
    const st = await me.jobs.wait(id, { timeoutMs: 60_000 });
    expect(st.state).toBe('succeeded');
    const r = await me.jobs.result(id);
    expect(r.value).toEqual([1, 3]);
    expect(r.failed!.map((f) => [f.key, f.error.pythonType])).toEqual([[2, 'AssertionError']]);
  });
});

describe('onPartition (a control of run())', () => {
  it('hands each partition over in partition order as it finishes, and the result keeps them without values', async () => {
    const seen: Array<[number, unknown, unknown]> = [];
    const r = await me.run(
      { kind: 'indexApply', times: 4, func: { source: 'import time\n\ndef f(i):\n    if i == 1:\n        time.sleep(1)\n    return i * i' }, options: { parallel: true } },
      { onPartition: (p, i) => void seen.push([i, p.key, p.value]) },
    );
    expect(seen).toEqual([[0, 1, 1], [1, 2, 4], [2, 3, 9], [3, 4, 16]]);
    expect(r.partitions.map((p) => p.value)).toEqual([null, null, null, null]);
  });

  it('a sink that rejects fails the call with its error', async () => {
    const e = await rejectsWith(
      me.run({ kind: 'rowApply', data: t.toPlan(), func: { source: 'def f(df):\n    return len(df)' }, options: { rows: 2, inputType: 'frame' } }, {
        onPartition: async (_p, i) => {
          if (i === 1) throw new InsituError('CANCELLED', 'the reader went away');
        },
      }),
      'CANCELLED',
    );
    expect(e.message).toContain('the reader went away');
  });
});
