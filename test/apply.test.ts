import { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session, type TableProxy } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

// One engine (two Pyodide workers) for the whole file.
let engine: Engine;
let me: Session;
let iris: TableProxy;
const db = tempDatabase();

const rowsOf = (t: unknown) => (t as Table).toArray().map((r) => r.toJSON());

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2 });
  me = engine.session({ user: 'alice' });
  iris = await me.create('T', [
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

describe('doEval', () => {
  it('calls the function with keyword arguments only and returns its JSON value and stdout', async () => {
    const r = await me.doEval({ source: 'def f(a, b=2):\n    print("sum", a + b)\n    return {"a": a, "b": b, "t": (1, 2)}' }, { args: { a: 40 } });
    expect(r.value).toEqual({ a: 40, b: 2, t: [1, 2] });
    expect(r.stdout).toBe('sum 42\n');
    expect(r.partitions).toHaveLength(1);
    expect(r.partitions[0]!.key).toBeNull();
  });

  it('runs stored scripts by name', async () => {
    await me.scripts.create('answer', 'def answer():\n    return 42');
    expect((await me.doEval('answer')).value).toBe(42);
  });

  it('converts plain return values: None, bool, float, str, nested lists, bytes, NaN', async () => {
    const cases: [string, unknown][] = [
      ['None', null],
      ['True', true],
      ['1.25', 1.25],
      ['"text"', 'text'],
      ['[1, [2, "x"], {"k": None}]', [1, [2, 'x'], { k: null }]],
      ['float("nan")', null],
      ['[]', []],
    ];
    for (const [expr, want] of cases) {
      expect((await me.doEval({ source: `def f():\n    return ${expr}` })).value, expr).toEqual(want);
    }
    const bytes = await me.doEval({ source: 'def f():\n    return bytes([0, 1, 255])' });
    expect(bytes.value).toBeInstanceOf(Uint8Array);
    expect([...(bytes.value as Uint8Array)]).toEqual([0, 1, 255]);
  });

  it('returns a table for a Frame, a dict of lists or a list of dicts', async () => {
    for (const body of [
      'import insitu\n    return insitu.Frame({"a": [1, 2], "b": ["x", None]})',
      'return {"a": [1, 2], "b": ["x", None]}',
      'return [{"a": 1, "b": "x"}, {"a": 2}]',
    ]) {
      const r = await me.doEval({ source: `def f():\n    ${body}` });
      expect(r.value, body).toBeInstanceOf(Table);
      expect(rowsOf(r.value)).toEqual([{ a: 1, b: 'x' }, { a: 2, b: null }]);
    }
  });

  it('refuses results that cannot be converted, with BAD_RESULT naming the problem', async () => {
    // A dict of lists of different lengths is no table: it is a JSON value (see the dict-of-lists rule).
    expect((await me.doEval({ source: 'def f():\n    return {"a": [1, 2, 3], "b": [1]}' })).value).toEqual({ a: [1, 2, 3], b: [1] });
    let e = await rejectsWith(me.doEval({ source: 'def f():\n    return object()' }), 'BAD_RESULT');
    expect(e.message).toMatch(/object/);
    e = await rejectsWith(me.doEval({ source: 'def f():\n    return {"a": [1, "x"]}' }), 'BAD_RESULT');
    expect(e.message).toMatch(/mixes int64 and utf8/);
    // The engine keeps serving after refusals.
    expect((await me.doEval({ source: 'def f():\n    return 1' })).value).toBe(1);
  });

  it('runs every call in a fresh namespace: globals do not leak between calls', async () => {
    const src = 'counter = 0\ndef f():\n    global counter\n    counter += 1\n    return counter';
    const values = [];
    for (let i = 0; i < 4; i++) values.push((await me.doEval({ source: src })).value);
    expect(values).toEqual([1, 1, 1, 1]);
  });
});

describe('tableApply', () => {
  it('passes the whole table as one insitu.Frame (no pandas here) and returns a table', async () => {
    const r = await me.tableApply(iris, {
      source: `
def f(df):
    assert type(df).__name__ == "Frame", type(df)
    print(df.shape, df.columns)
    return {"g": df["g"], "x2": [v * 2 for v in df["x"]]}
`,
    });
    expect(r.stdout).toBe("(5, 3) ['g', 'x', 'y']\n");
    expect(rowsOf(r.value)).toEqual([
      { g: 'b', x2: 2 }, { g: 'a', x2: 4 }, { g: 'b', x2: 6 }, { g: 'c', x2: 8 }, { g: 'a', x2: 10 },
    ]);
  });

  it('applies select, where, orderBy and limit of the proxy before the UDF sees the data', async () => {
    const view = iris.select(['x', 'g']).where('x >= ?', 2).orderBy('-x').limit(3);
    const r = await me.tableApply(view, { source: 'def f(df):\n    return df.to_dict()' }, { inputType: 'frame' });
    expect(rowsOf(r.value)).toEqual([{ x: 5, g: 'a' }, { x: 4, g: 'c' }, { x: 3, g: 'b' }]);
  });

  it('hands data over as records, columns or frame on request, and says when pandas is missing', async () => {
    const records = await me.tableApply(iris.limit(2), { source: 'def f(rows):\n    return [type(rows).__name__, rows]' }, { inputType: 'records' });
    expect(records.value).toEqual(['list', [{ g: 'b', x: 1, y: 10.5 }, { g: 'a', x: 2, y: 20.5 }]]);
    const columns = await me.tableApply(iris.limit(2), { source: 'def f(c):\n    return [type(c).__name__, c]' }, { inputType: 'columns' });
    expect(columns.value).toEqual(['dict', { g: ['b', 'a'], x: [1, 2], y: [10.5, 20.5] }]);
    const frame = await me.tableApply(iris, { source: 'def f(df):\n    return [len(df), df.head(1).to_records(), df[["x"]].columns, next(iter(df))]' }, { inputType: 'frame' });
    expect(frame.value).toEqual([5, [{ g: 'b', x: 1, y: 10.5 }], ['x'], { g: 'b', x: 1, y: 10.5 }]);
    const e = await rejectsWith(me.tableApply(iris, { source: 'def f(df):\n    return 1' }, { inputType: 'pandas' }), 'PACKAGE_MISSING');
    expect(e.message).toMatch(/pandas/);
    await rejectsWith(me.tableApply(iris, { source: 'def f(df):\n    return 1' }, { inputType: 'numpy' as never }), 'BAD_INPUT');
  });

  it('works on a read-only query proxy with parameters', async () => {
    const q = me.query('select g, count(*) as n, sum(x) as sx from T where x > ? group by g order by g', [1]);
    const r = await me.tableApply(q, { source: 'def f(df):\n    return df' });
    expect(rowsOf(r.value)).toEqual([{ g: 'a', n: 2, sx: 7 }, { g: 'b', n: 1, sx: 3 }, { g: 'c', n: 1, sx: 4 }]);
  });
});

describe('type round trips through Python', () => {
  it('hands every SQLite type to Python as the right Python type, nulls as None, and back unchanged', async () => {
    const rows = [
      { i: 1, f: 1.5, s: 'a', b: true, ts: new Date('2024-02-29T10:20:30.123Z'), x: new Uint8Array([0, 255]) },
      { i: null, f: null, s: null, b: null, ts: null, x: null },
      { i: -(2 ** 40), f: -0.25, s: 'héllo ✓ 中文', b: false, ts: new Date(0), x: new Uint8Array([]) },
    ];
    const t = await me.create('RT', rows, { overwrite: true });
    const seen = await me.tableApply(t, { source: 'def f(df):\n    return [[type(v).__name__ for v in r.values()] for r in df]' });
    expect(seen.value).toEqual([
      ['int', 'float', 'str', 'bool', 'datetime', 'bytes'],
      ['NoneType', 'NoneType', 'NoneType', 'NoneType', 'NoneType', 'NoneType'],
      ['int', 'float', 'str', 'bool', 'datetime', 'bytes'],
    ]);
    const back = await me.tableApply(t, { source: 'def f(df):\n    return df' });
    const pulled = await t.pull();
    expect(String((back.value as Table).schema)).toBe(String(pulled.schema));
    expect(rowsOf(back.value)).toEqual(rowsOf(pulled));

    const dates = await me.doEval({
      source: 'import datetime\ndef f():\n    return {"d": [datetime.date(2020, 2, 29), None], "t": [datetime.datetime(2021, 1, 2, 3, 4, 5, 6000), None]}',
    });
    const out = dates.value as Table;
    expect(out.schema.fields.map((x) => String(x.type))).toEqual(['Date32<DAY>', 'Timestamp<MILLISECOND>']);
    expect(rowsOf(out)).toEqual([{ d: Date.UTC(2020, 1, 29), t: Date.UTC(2021, 0, 2, 3, 4, 5, 6) }, { d: null, t: null }]);
    // A Python table result can be stored back into SQLite and read again with the same types.
    const stored = await me.create('FROM_PY', out, { overwrite: true });
    expect(rowsOf(await stored.pull())).toEqual(rowsOf(out));
  });

  it('binds bytes, NUL included, as parameters of a filter and of a query', async () => {
    const t = await me.create('PARAMS', [
      { k: 1, x: new Uint8Array([0, 255]) },
      { k: 2, x: new Uint8Array([1]) },
    ]);
    const nul = new Uint8Array([0, 255]);
    expect(rowsOf(await t.where('x = ?', nul).select(['k']).pull())).toEqual([{ k: 1 }]);
    const q = me.query('SELECT k FROM PARAMS WHERE x = ? OR k = ?', [nul, 2]).orderBy('k');
    expect(rowsOf(await q.pull())).toEqual([{ k: 1 }, { k: 2 }]);
  });
});

describe('rowApply', () => {
  it('calls the UDF on chunks of `rows` rows, the last one shorter, and combines tables in order', async () => {
    const r = await me.rowApply(iris, { source: 'def f(df):\n    print(len(df))\n    return {"x": df["x"], "n": [len(df)] * len(df)}' }, { rows: 2 });
    expect(r.partitions.map((p) => p.key)).toEqual([
      { chunk: 1, start: 0, rows: 2 },
      { chunk: 2, start: 2, rows: 2 },
      { chunk: 3, start: 4, rows: 1 },
    ]);
    expect(r.stdout).toBe('2\n2\n1\n');
    expect(r.partitions.map((p) => p.stdout)).toEqual(['2\n', '2\n', '1\n']);
    expect(rowsOf(r.value)).toEqual([
      { x: 1, n: 2 }, { x: 2, n: 2 }, { x: 3, n: 2 }, { x: 4, n: 2 }, { x: 5, n: 1 },
    ]);
  });

  it('defaults to one row per call, like the anchor systems', async () => {
    const r = await me.rowApply(iris, { source: 'def f(df):\n    return len(df)' });
    expect(r.value).toEqual([1, 1, 1, 1, 1]);
  });

  it('keeps partition order under parallelism even when early chunks finish last', async () => {
    const src = `
import time
def f(df):
    first = df["x"][0]
    t = time.time() + (0.2 if first <= 2 else 0.0)
    while time.time() < t:
        pass
    return {"x": df["x"]}
`;
    const r = await me.rowApply(iris, { source: src }, { rows: 1, parallel: true });
    expect(rowsOf(r.value).map((o) => o.x)).toEqual([1, 2, 3, 4, 5]);
  });

  it('returns per-chunk values in order when chunks do not all return tables', async () => {
    const r = await me.rowApply(iris, { source: 'def f(df):\n    return sum(df["x"])' }, { rows: 2, parallel: 2 });
    expect(r.value).toEqual([3, 7, 5]);
  });

  it('streams a table larger than a batch: every row is seen once, in order', async () => {
    const n = 150_000;
    const big = await me.create('BIG', Array.from({ length: n }, (_, i) => ({ id: i, v: i % 7 })));
    const r = await me.rowApply(big, { source: 'def f(df):\n    ids = df["id"]\n    return {"first": [ids[0]], "last": [ids[-1]], "n": [len(ids)], "s": [sum(df["v"])]}' }, { rows: 40_000, parallel: true });
    const out = rowsOf(r.value);
    expect(out.map((o) => [o.first, o.last, o.n])).toEqual([
      [0, 39_999, 40_000],
      [40_000, 79_999, 40_000],
      [80_000, 119_999, 40_000],
      [120_000, 149_999, 30_000],
    ]);
    const total = out.reduce((a, o) => a + Number(o.s), 0);
    expect(total).toBe(Array.from({ length: n }, (_, i) => i % 7).reduce((a, b) => a + b, 0));
  });
});

describe('worker-side reads', () => {
  it('reads row chunks of a filtered, narrowed table in the workers, in table order with exact chunk sizes', async () => {
    const rows = Array.from({ length: 30_000 }, (_, i) => ({ id: i, v: i % 10, s: `s${i}` }));
    const t = await me.create('WR', rows, { overwrite: true });
    const view = t.select(['id', 's']).where('v >= ?', 5);
    const r = await me.rowApply(view, { source: 'def f(df):\n    return {"first": [df["id"][0]], "n": [len(df)], "cols": [",".join(df.columns)]}' }, { rows: 4_000, parallel: true });
    const out = rowsOf(r.value);
    expect(out.map((o) => o.n)).toEqual([4000, 4000, 4000, 3000]);
    expect(out.map((o) => o.first)).toEqual([5, 8005, 16005, 24005]);
    expect(new Set(out.map((o) => o.cols))).toEqual(new Set(['id,s']));
    expect(r.partitions.map((p) => p.key)).toEqual([
      { chunk: 1, start: 0, rows: 4000 }, { chunk: 2, start: 4000, rows: 4000 }, { chunk: 3, start: 8000, rows: 4000 }, { chunk: 4, start: 12000, rows: 3000 },
    ]);
    const whole = await me.tableApply(view, { source: 'def f(df):\n    return [len(df), df["s"][-1]]' });
    expect(whole.value).toEqual([15000, 's29999']);
  });
});

describe('groupApply', () => {
  it('calls the UDF once per group in ascending key order and keeps the key columns', async () => {
    const r = await me.groupApply(iris, ['g'], { source: 'def f(df):\n    print(df["g"][0])\n    return {"n": [len(df)], "sx": [sum(df["x"])]}' }, { parallel: true });
    expect(r.partitions.map((p) => p.key)).toEqual([{ g: 'a' }, { g: 'b' }, { g: 'c' }]);
    expect(r.stdout).toBe('a\nb\nc\n');
    expect(rowsOf(r.value)).toEqual([
      { g: 'a', n: 2, sx: 7 },
      { g: 'b', n: 2, sx: 4 },
      { g: 'c', n: 1, sx: 4 },
    ]);
  });

  it('groups by several columns, orders within groups by the proxy order, and returns values when not tables', async () => {
    await me.create('G2', [
      { a: 1, b: 'y', v: 3 }, { a: 1, b: 'x', v: 2 }, { a: 2, b: 'x', v: 9 }, { a: 1, b: 'x', v: 1 }, { a: null, b: 'x', v: 0 },
    ]);
    const r = await me.groupApply(me.table('G2').orderBy('-v'), ['a', 'b'], { source: 'def f(df):\n    return df["v"]' });
    expect(r.partitions.map((p) => p.key)).toEqual([{ a: null, b: 'x' }, { a: 1, b: 'x' }, { a: 1, b: 'y' }, { a: 2, b: 'x' }]);
    expect(r.value).toEqual([[0], [2, 1], [3], [9]]);
  });

  it('hands a group that spans several scan batches over as one partition', async () => {
    const rows = Array.from({ length: 70_000 }, (_, i) => ({ k: i < 69_990 ? 'big' : 'small', v: 1 }));
    const t = await me.create('SKEW', rows);
    const r = await me.groupApply(t, 'k', { source: 'def f(df):\n    return {"n": [len(df)]}' });
    expect(rowsOf(r.value)).toEqual([{ k: 'big', n: 69_990 }, { k: 'small', n: 10 }]);
  });

  it('groups by a numeric key in the workers, in ascending key order, with filters applied', async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => ({ k: (i * 7919) % 101 - 50, v: i, f: ((i * 31) % 5) / 2 }));
    const t = await me.create('NUMG', rows, { overwrite: true });
    const view = t.select(['k', 'v']).where('v % 2 = ?', 0);
    const r = await me.groupApply(view, ['k'], { source: 'def f(df):\n    return {"n": [len(df)], "s": [sum(df["v"])]}' }, { parallel: true });
    const expected = new Map<number, { n: number; s: number }>();
    for (const row of rows) {
      if (row.v % 2 !== 0) continue;
      const e = expected.get(row.k) ?? { n: 0, s: 0 };
      e.n++;
      e.s += row.v;
      expected.set(row.k, e);
    }
    const keys = [...expected.keys()].sort((a, b) => a - b);
    expect(rowsOf(r.value)).toEqual(keys.map((k) => ({ k: k, n: expected.get(k)!.n, s: expected.get(k)!.s })));
    expect(r.partitions[0]!.key).toEqual({ k: -50 });
    const byFloat = await me.groupApply(t.select(['f', 'v']), 'f', { source: 'def f(df):\n    return len(df)' }, { parallel: 2 });
    expect(byFloat.partitions.map((p) => p.key)).toEqual([{ f: 0 }, { f: 0.5 }, { f: 1 }, { f: 1.5 }, { f: 2 }]);
    expect((byFloat.value as number[]).reduce((a, b) => a + b, 0)).toBe(20_000);
  });

  it('runs thousands of small groups in batches with per-group namespaces, output, values and errors', async () => {
    // 4000 groups of 40 rows: each worker hands Python many groups per call, over several calls.
    const rows = Array.from({ length: 160_000 }, (_, i) => ({ k: i % 4000, v: i }));
    const t = await me.create('MANYG', rows, { overwrite: true });
    const sums = new Map<number, number>();
    for (const row of rows) sums.set(row.k, (sums.get(row.k) ?? 0) + row.v);
    const udf = [
      'seen = 0',
      'def f(df):',
      '    global seen',
      '    seen += 1',
      '    k = df["k"][0]',
      '    print(k)',
      '    return {"total": [sum(df["v"])], "seen": [seen], "half": [k / 2]}',
    ].join('\n');
    const r = await me.groupApply(t, 'k', { source: udf }, { parallel: true });
    expect(r.partitions).toHaveLength(4000);
    expect(r.partitions[2500]!.key).toEqual({ k: 2500 });
    expect(r.partitions[2500]!.stdout).toBe('2500\n');
    expect(rowsOf(r.partitions[2500]!.value as never)).toEqual([{ total: sums.get(2500)!, seen: 1, half: 1250 }]);
    expect(r.stdout).toBe(Array.from({ length: 4000 }, (_, k) => `${k}\n`).join(''));
    const got = rowsOf(r.value);
    expect(got).toHaveLength(4000);
    expect(got.every((row, k) => row['k'] === k && row['total'] === sums.get(k)! && row['seen'] === 1 && row['half'] === k / 2)).toBe(true);

    // Tables for some groups and plain values for others: per-group values, in key order.
    const mixed = await me.groupApply(t, 'k', { source: 'def f(df):\n    k = df["k"][0]\n    return {"k2": [k * 2]} if k % 3 == 0 else k' }, { parallel: true });
    const values = mixed.value as unknown[];
    expect(values).toHaveLength(4000);
    expect(rowsOf(values[3] as never)).toEqual([{ k2: 6 }]);
    expect(values[4]).toBe(4);
    // Groups returning different columns, or other kinds (int here, float there): one value per group,
    // however the groups were spread over workers and calls.
    const ragged = await me.groupApply(t, 'k', { source: 'def f(df):\n    k = df["k"][0]\n    return {"a": [k]} if k < 2000 else {"b": [str(k)]}' }, { parallel: true });
    expect(rowsOf((ragged.value as unknown[])[3999] as never)).toEqual([{ b: '3999' }]);
    const kinds = await me.groupApply(t, 'k', { source: 'def f(df):\n    k = df["k"][0]\n    return {"x": [k if k % 2 else k / 2]}' }, { parallel: true });
    expect(rowsOf((kinds.value as unknown[])[3] as never)).toEqual([{ x: 3 }]);
    expect(rowsOf((kinds.value as unknown[])[4] as never)).toEqual([{ x: 2 }]);

    // Columns of unequal length are no table but a JSON value, group by group, even when another
    // group's opposite mismatch would even out the stacked totals.
    const uneven = 'def f(df):\n    k = df["k"][0]\n    if k == 5:\n        return {"a": [1, 2], "b": [1]}\n    if k == 6:\n        return {"a": [1], "b": [1, 2]}\n    return {"a": [k], "b": [k]}';
    const ue = await me.groupApply(t, 'k', { source: uneven }, { parallel: true });
    expect((ue.value as unknown[])[5]).toEqual({ a: [1, 2], b: [1] });
    expect((ue.value as unknown[])[6]).toEqual({ a: [1], b: [1, 2] });
    expect(rowsOf((ue.value as unknown[])[7] as never)).toEqual([{ a: 7, b: 7 }]);

    // A failing group in the middle of a call names its key.
    const boom = 'def f(df):\n    k = df["k"][0]\n    if k == 2500:\n        raise ValueError("bad group")\n    return {"k": [k]}';
    const e = await rejectsWith(me.groupApply(t, 'k', { source: boom }, { parallel: true }), 'PYTHON_ERROR');
    expect(e.partition).toEqual({ k: 2500n });
    expect(e.message).toMatch(/bad group/);
  });

  it('refuses unknown grouping columns', async () => {
    const e = await rejectsWith(me.groupApply(iris, ['nope'], { source: 'def f(df):\n    return 1' }), 'BAD_INPUT');
    expect(e.message).toMatch(/nope/);
    await rejectsWith(me.groupApply(iris, ['bad"name'], { source: 'def f(df):\n    return 1' }), 'BAD_INPUT');
  });
});

describe('indexApply', () => {
  it('calls the UDF with 1-based indexes and returns values in index order', async () => {
    const r = await me.indexApply(5, { source: 'def f(i, base=0):\n    return base + i * i' }, { parallel: true, args: { base: 100 } });
    expect(r.value).toEqual([101, 104, 109, 116, 125]);
    expect(r.partitions.map((p) => p.key)).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses a non-positive count', async () => {
    await rejectsWith(me.indexApply(0, { source: 'def f(i):\n    return i' }), 'BAD_INPUT');
  });
});

describe('positional arguments', () => {
  const F = { source: 'def f(*a, **k):\n    first = a[0]\n    head = len(first) if hasattr(first, "columns") else first\n    return {"head": head, "rest": list(a[1:]), "k": k}' };

  it('passes them after the input and before the keyword arguments, for every apply kind', async () => {
    const positional = [5, ['T1', 'ID', 'VAL']];
    const expected = (head: unknown) => ({ head, rest: positional, k: { z: 1 } });
    const eval_ = await me.doEval({ source: 'def f(argc, argv, z=0):\n    return {"argc": argc, "argv": argv, "z": z}' }, { positional, args: { z: 1 } });
    expect(eval_.value).toEqual({ argc: 5, argv: ['T1', 'ID', 'VAL'], z: 1 });
    expect((await me.tableApply(iris, F, { positional, args: { z: 1 }, inputType: 'frame' })).value).toEqual(expected(5));
    expect((await me.rowApply(iris, F, { rows: 2, positional, args: { z: 1 }, inputType: 'frame' })).value).toEqual([expected(2), expected(2), expected(1)]);
    // groupApply over a plain table on a file: the workers read the groups themselves (the other path).
    expect((await me.groupApply(iris, 'g', F, { positional, args: { z: 1 }, inputType: 'frame' })).value).toEqual([expected(2), expected(2), expected(1)]);
    expect((await me.indexApply(2, F, { positional, args: { z: 1 } })).value).toEqual([expected(1), expected(2)]);
  });

  it('are part of the call value and refused when not a JSON array', async () => {
    const r = await me.run(JSON.parse(JSON.stringify({ kind: 'doEval', func: { source: 'def f(a, b):\n    return [a, b]' }, options: { positional: [1, 'x'] } })));
    expect(r.value).toEqual([1, 'x']);
    expect((await rejectsWith(me.doEval(F, { positional: 'x' as never }), 'BAD_INPUT')).message).toMatch(/^positional must be an array/);
    expect((await rejectsWith(me.run({ kind: 'doEval', func: F, options: { positional: [1n] as never } }), 'BAD_INPUT')).message).toMatch(/call\.options\.positional\[0\] is not JSON-able/);
  });
});

describe('errors', () => {
  it('reports Python exceptions as PYTHON_ERROR with the type, traceback line of the user script and partition', async () => {
    const src = '\n\ndef f(df):\n    x = df["x"][0]\n    if x == 3:\n        raise ValueError(f"bad x {x}")\n    return x\n';
    const e = await rejectsWith(me.rowApply(iris, { source: src, name: 'checker' }, { rows: 1, parallel: true }), 'PYTHON_ERROR');
    expect(e.pythonType).toBe('ValueError');
    expect(e.message).toMatch(/bad x 3/);
    expect(e.line).toBe(6);
    expect(e.script).toBe('checker');
    expect(e.traceback).toMatch(/File "<script checker>", line 6, in f/);
    expect(e.traceback).toMatch(/raise ValueError/);
    expect(e.partition).toEqual({ chunk: 3, start: 2, rows: 1 });
  });

  it('keeps the traceback through nested user functions and reports what was printed', async () => {
    const src = 'def helper(v):\n    return 1 / v\n\ndef f():\n    print("before")\n    return helper(0)\n';
    const e = await rejectsWith(me.doEval({ source: src, name: 'f' }), 'PYTHON_ERROR');
    expect(e.traceback).toMatch(/line 6, in f[\s\S]*line 2, in helper/);
    expect(e.line).toBe(2);
    expect(e.stdout).toBe('before\n');
  });

  it('names the failing group', async () => {
    const e = await rejectsWith(
      me.groupApply(iris, ['g'], { source: 'def f(df):\n    if df["g"][0] == "b":\n        raise KeyError("b!")\n    return 1' }),
      'PYTHON_ERROR',
    );
    expect(e.partition).toEqual({ g: 'b' });
  });

  it('reports a syntax error in inline source as BAD_INPUT with its line', async () => {
    const e = await rejectsWith(me.doEval({ source: 'def f():\n    return (1 +\n' }), 'BAD_INPUT');
    expect(e.line).toBeGreaterThanOrEqual(2);
  });

  it('refuses inline source without a single function to call', async () => {
    await rejectsWith(me.doEval({ source: 'x = 1' }), 'BAD_INPUT');
    await rejectsWith(me.doEval({ source: 'def a():\n    return 1\ndef b():\n    return 2' }), 'BAD_INPUT');
    expect((await me.doEval({ source: 'def a():\n    return 1\ndef b():\n    return 2', name: 'b' })).value).toBe(2);
  });

  it('refuses unknown scripts, non-JSON arguments and non-proxy data', async () => {
    await rejectsWith(me.doEval('no_such_script'), 'SCRIPT_NOT_FOUND');
    await rejectsWith(me.doEval({ source: 'def f(a):\n    return a' }, { args: { a: new Date() as never } }), 'BAD_INPUT');
    await rejectsWith(me.doEval({ source: 'def f(a):\n    return a' }, { args: { 'not-a-name': 1 } }), 'BAD_INPUT');
    await rejectsWith(me.tableApply('T' as never, { source: 'def f(d):\n    return 1' }), 'BAD_INPUT');
    await rejectsWith(me.rowApply(iris, { source: 'def f(d):\n    return 1' }, { rows: 0 }), 'BAD_INPUT');
    await rejectsWith(me.tableApply(me.table('MISSING'), { source: 'def f(d):\n    return 1' }), 'TABLE_NOT_FOUND');
  });

  it('refuses a write statement as a query proxy, runs nothing, and leaves the table unchanged', async () => {
    const before = await iris.count();
    await rejectsWith(() => me.tableApply(me.query('DELETE FROM T'), { source: 'def f(d):\n    return 1' }), 'BAD_INPUT');
    await rejectsWith(() => me.query('/* looks harmless */ DELETE FROM T').pull(), 'BAD_INPUT');
    await rejectsWith(me.query('select 1; delete from T').pull(), 'BAD_INPUT');
    await rejectsWith(iris.where('1) ; DELETE FROM T; --').pull(), 'BAD_INPUT');
    expect(await iris.count()).toBe(before);
  });

  it('does not cross stdout between concurrent calls', async () => {
    const src = 'def f(i, tag):\n    for k in range(50):\n        print(tag, i, k)\n    return i';
    const runs = await Promise.all(['p', 'q', 'r'].map((tag) => me.indexApply(4, { source: src }, { parallel: true, args: { tag } })));
    runs.forEach((r, n) => {
      const tag = ['p', 'q', 'r'][n];
      r.partitions.forEach((p, i) => {
        const lines = p.stdout.trim().split('\n');
        expect(lines).toHaveLength(50);
        expect(lines.every((l) => l.startsWith(`${tag} ${i + 1} `))).toBe(true);
      });
    });
  });
});
