import { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, decodeResult, encodeResult, type Engine, type Session } from 'insitu';
import { ON_POSTGRES } from './backend.js';
import { rejectsWith, tempDatabase } from './helpers.js';

// Shapes a user coming from pandas and OML hits: dicts of lists that are no tables, bytes inside
// returned values, datastore listing by regular expression, proxies in datastores, and messages.
let engine: Engine;
let me: Session;
const db = tempDatabase();

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2 });
  me = engine.session({ user: 'alice' });
  await me.create('T', [
    { a: 1, b: 'x' },
    { a: 2, b: 'y' },
  ]);
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

describe('a returned dict of lists', () => {
  it('is a table when every value is a list of scalars of one length', async () => {
    const r = await me.doEval({ source: 'def f():\n    return {"a": [1, None], "b": ["x", "y"]}' });
    expect(r.value).toBeInstanceOf(Table);
    expect((r.value as Table).numRows).toBe(2);
  });

  it('is a JSON value otherwise: lists of other lengths or holding dicts and lists (seed 004)', async () => {
    const src = 'def f():\n    return {"dir": ["a", "b", "c"], "describe": [{"name": "m", "size": 10}]}';
    expect((await me.doEval({ source: src })).value).toEqual({ dir: ['a', 'b', 'c'], describe: [{ name: 'm', size: 10 }] });
    expect((await me.doEval({ source: 'def f():\n    return {"a": [[1], [2]], "b": [3, 4]}' })).value).toEqual({ a: [[1], [2]], b: [3, 4] });
  });
});

describe('bytes inside returned lists and dicts', () => {
  const PNGS = 'def f(*_):\n    return [b"\\x89PNG\\r\\n\\x1a\\n" + bytes([i]) for i in range(3)]';

  it('come back as Uint8Array where they were, through encodeResult too', async () => {
    const r = await me.doEval({ source: PNGS });
    const list = r.value as Uint8Array[];
    expect(list).toHaveLength(3);
    expect(list.every((b) => b instanceof Uint8Array)).toBe(true);
    expect([...list[2]!]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 2]);
    const nested = await me.doEval({ source: 'def f():\n    return {"img": b"\\x00\\xff", "meta": {"t": "x", "raw": [b"a"]}}' });
    expect(nested.value).toEqual({ img: new Uint8Array([0, 255]), meta: { t: 'x', raw: [new Uint8Array([97])] } });
    const back = decodeResult(encodeResult(nested));
    expect(back.value).toEqual(nested.value);
  });

  it('work per partition (rowApply, groupApply) and in jobs', async () => {
    const r = await me.rowApply(me.table('T'), { source: 'def f(df):\n    return [str(df["b"][0]).encode()]' }, { parallel: true });
    expect(r.value).toEqual([[new Uint8Array([120])], [new Uint8Array([121])]]);
    expect(decodeResult(encodeResult(r)).value).toEqual(r.value);
    const { id } = await me.jobs.submit({ kind: 'indexApply', times: 2, func: { source: PNGS } });
    await me.jobs.wait(id, { timeoutMs: 60_000 });
    const j = await me.jobs.result(id);
    expect((j.value as Uint8Array[][])[1]![0]).toBeInstanceOf(Uint8Array);
  });

  it('count towards maxResultBytes', async () => {
    const small = await createEngine({ database: ':memory:', workers: 1, maxResultBytes: 1024, isolation: 'thread' });
    try {
      const e = await rejectsWith(small.session({ user: 'bob' }).doEval({ source: 'def f():\n    return [bytes(800), bytes(800)]' }), 'RESULT_TOO_LARGE');
      expect(e.message).toContain('JSON text and bytes of 1640 bytes');
    } finally {
      await small.close();
    }
  });
});

describe('datastores listed by regular expression', () => {
  it('from the host: datastores.list({ name, regex: true })', async () => {
    for (const n of ['ds_lm', 'ds_glm', 'ds_lm_old', 'other']) await me.datastores.save(n, { x: 1 }, { overwrite: true });
    const names = async (opts: object) => (await me.datastores.list(opts)).map((d) => d.name);
    expect(await names({ name: '^ds_(lm|glm)$', regex: true })).toEqual(['ds_glm', 'ds_lm']);
    expect(await names({ name: 'lm', regex: true })).toEqual(['ds_glm', 'ds_lm', 'ds_lm_old']);
    expect(await names({ name: 'ds_lm%' })).toEqual(['ds_lm', 'ds_lm_old']);
    await rejectsWith(me.datastores.list({ name: '(', regex: true }), 'BAD_INPUT');
  });

  it('from a UDF: insitu.ds.dir(name, regex_match=True)', async () => {
    const src = 'import insitu\ndef f(p):\n    return [d["name"] for d in insitu.ds.dir(p, regex_match=True)]';
    expect((await me.doEval({ source: src }, { args: { p: '^ds_(lm|glm)$' } })).value).toEqual(['ds_glm', 'ds_lm']);
    const e = await rejectsWith(me.doEval({ source: src }, { args: { p: '(' } }), 'BAD_INPUT');
    expect(e.message).toContain('not a valid regular expression');
  });
});

describe('a table proxy saved into a datastore', () => {
  it('is BAD_INPUT saying why and what to save instead, and nothing is written', async () => {
    const e = await rejectsWith(me.datastores.save('ds_proxy', { t: me.table('T') }), 'BAD_INPUT');
    expect(e.message).toContain('is a table proxy');
    expect(e.message).toContain('proxy.toPlan()');
    expect(await me.datastores.list({ name: 'ds_proxy' })).toEqual([]);
    // What the message suggests works: the plan is JSON and runs again as a call's data.
    await me.datastores.save('ds_proxy', { t: me.table('T').where('a > ?', 1).toPlan() });
    const { t: plan } = await me.datastores.load('ds_proxy');
    const r = await me.run({ kind: 'tableApply', data: plan as never, func: { source: 'def f(df):\n    return len(df)' } });
    expect(r.value).toBe(1);
  });
});

describe('messages', () => {
  it('say once that a script does not compile', async () => {
    const e = await rejectsWith(me.scripts.create('bad', 'def bad():\n    return (\n'), 'BAD_INPUT');
    expect(e.message).toBe("script bad does not compile: '(' was never closed (line 2)");
    const inline = await rejectsWith(me.doEval({ source: 'def f():\n    x = = 1\n' }), 'BAD_INPUT');
    expect(inline.message).toBe('script inline does not compile: invalid syntax (line 2)');
  });

  it("quote the user's SQL, not the engine's wrapping of it", async () => {
    const e = await rejectsWith(me.query('select nosuch from T').pull(), 'BAD_INPUT');
    // Each database words the error its own way; both quote the statement as the user wrote it.
    const why = ON_POSTGRES ? 'column "nosuch" does not exist' : 'no such column: nosuch';
    expect(e.message).toBe(`query is not valid SQL: ${why} (in: select nosuch from T)`);
    const c = await rejectsWith(me.query('select a from T where').count(), 'BAD_INPUT');
    expect(c.message).toContain('(in: select a from T where)');
    expect(c.message).not.toContain('AS "t"');
  });
});

describe('integers as JavaScript numbers', () => {
  const rows = (v: unknown) => (v as Table).toArray().map((r) => r.toJSON());

  it('results and pull give numbers within ±2^53 by default, so JSON.stringify of rows works', async () => {
    const r = await me.groupApply(me.table('T'), ['b'], { source: 'def f(df):\n    return {"n": [len(df) * 150]}' });
    expect(rows(r.value)).toEqual([
      { b: 'x', n: 150 },
      { b: 'y', n: 150 },
    ]);
    expect(JSON.stringify(rows(r.value))).toBe('[{"b":"x","n":150},{"b":"y","n":150}]');
    const pulled = await me.table('T').pull();
    expect(rows(pulled)).toEqual([
      { a: 1, b: 'x' },
      { a: 2, b: 'y' },
    ]);
    const g = await me.groupApply(me.table('T'), ['a'], { source: 'def f(df):\n    return len(df)' });
    expect(g.partitions.map((p) => p.key)).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it('give BigInt for a column holding a value beyond ±2^53, and everywhere with int64: bigint', async () => {
    const big = await me.doEval({ source: 'def f():\n    return {"v": [1, 2**60]}' });
    expect(rows(big.value)).toEqual([{ v: 1n }, { v: 2n ** 60n }]);
    const asked = await me.doEval({ source: 'def f():\n    return {"v": [1, 2]}' }, { int64: 'bigint' });
    expect(rows(asked.value)).toEqual([{ v: 1n }, { v: 2n }]);
    expect(rows(await me.table('T').select(['a']).pull({ int64: 'bigint' }))).toEqual([{ a: 1n }, { a: 2n }]);
    await rejectsWith(me.doEval({ source: 'def f():\n    return 1' }, { int64: 'big' as never }), 'BAD_INPUT');
    await rejectsWith(me.table('T').pull({ int64: 1 as never }), 'BAD_INPUT');
  });

  it("follow createEngine({ int64: 'bigint' }), which a call can override", async () => {
    const e2 = await createEngine({ database: ':memory:', workers: 1, isolation: 'thread', int64: 'bigint' });
    try {
      const s = e2.session({ user: 'bob' });
      const t = await s.create('N', [{ a: 5 }]);
      expect(rows(await t.pull())).toEqual([{ a: 5n }]);
      expect(rows((await s.tableApply(t, { source: 'def f(df):\n    return df' }, { inputType: 'frame' })).value)).toEqual([{ a: 5n }]);
      expect(rows((await s.tableApply(t, { source: 'def f(df):\n    return df' }, { inputType: 'frame', int64: 'number' })).value)).toEqual([{ a: 5 }]);
      await expect(createEngine({ database: ':memory:', workers: 1, isolation: 'thread', int64: 'text' as never })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    } finally {
      await e2.close();
    }
  });

  it('stay integers when a result table is stored again (create, datastores)', async () => {
    const r = await me.doEval({ source: 'def f():\n    return {"v": [3, None]}' });
    const t = await me.create('AGAIN', r.value as Table, { overwrite: true });
    expect(rows(await t.pull({ int64: 'bigint' }))).toEqual([{ v: 3n }, { v: null }]);
    // The stored column's type as the database names it: SQLite's typeof(), PostgreSQL's pg_typeof().
    const typeOf = ON_POSTGRES ? 'pg_typeof(v)::text' : 'typeof(v)';
    const typed = await me.doEval({ source: `import insitu\ndef f():\n    c = insitu.connect()\n    return c.query("select ${typeOf} as t from AGAIN where v is not null")["t"][0]` });
    expect(typed.value).toBe(ON_POSTGRES ? 'bigint' : 'integer');
    await me.datastores.save('ds_ints', { t: r.value as Table }, { overwrite: true });
    const seen = await me.doEval({ source: 'import insitu\ndef f():\n    t = insitu.ds.load("ds_ints")["t"]\n    return [type(v).__name__ for v in t["v"]]' });
    expect(seen.value).toEqual(['int', 'NoneType']);
  });
});
