import { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, decodeResult, encodeResult, type ApplyCall, type ApplyProgress, type ApplyResult, type Engine, type Session, type TableProxy } from 'insitu';
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
    await rejectsWith(me.run({ kind: 'tableApply', data: { source: { table: 'insitu_scripts' } }, func: 'f' } as ApplyCall), 'BAD_INPUT');
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
