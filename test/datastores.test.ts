import { Table, tableFromArrays } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, PythonObject, type Engine, type Session } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

let engine: Engine;
let alice: Session;
const db = tempDatabase();

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2 });
  alice = engine.session({ user: 'alice' });
  await alice.create('POINTS', Array.from({ length: 20 }, (_, i) => ({ x: i, y: 3 + 2 * i })));
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

const TRAIN = `
import insitu

class LineModel:
    """A plain Python object with methods, defined in the script."""
    def __init__(self, a, b):
        self.a, self.b = a, b
    def predict(self, x):
        return self.a + self.b * x

def train(df, store="lm"):
    xs, ys = df["x"], df["y"]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    insitu.ds.save({"model": LineModel(my - b * mx, b), "meta": {"n": n, "by": "train"}}, store, overwrite=True, description="line fit")
    return n
`;

const SCORE = `
import insitu

def score(i, store="lm", owner=None):
    m = insitu.ds.load(store, owner=owner)
    return {"x": i, "y": m["model"].predict(i), "cls": type(m["model"]).__name__, "n": m["meta"]["n"]}
`;

describe('datastores from UDFs', () => {
  it('saves a model object in one worker and scores with it in other workers and in another engine', async () => {
    expect((await alice.tableApply(alice.table('POINTS'), { source: TRAIN })).value).toBe(20);
    const scored = await alice.indexApply(6, { source: SCORE }, { parallel: true });
    expect(scored.value).toEqual([1, 2, 3, 4, 5, 6].map((i) => ({ x: i, y: 3 + 2 * i, cls: 'LineModel', n: 20 })));

    const second = await createEngine({ database: db.path, workers: 1 });
    try {
      const again = await second.session({ user: 'alice' }).indexApply(2, { source: SCORE });
      expect(again.value).toEqual([{ x: 1, y: 5, cls: 'LineModel', n: 20 }, { x: 2, y: 7, cls: 'LineModel', n: 20 }]);
    } finally {
      await second.close();
    }
  });

  it('pickles script-defined classes without methods, and nested script classes, by value', async () => {
    await alice.doEval({
      source: 'import insitu\nclass Plain:\n    pass\nclass Outer:\n    class Inner:\n        pass\ndef f():\n    p = Plain()\n    p.x = 41\n    insitu.ds.save({"p": p, "i": Outer.Inner()}, "plain", overwrite=True)',
    });
    const r = await alice.doEval({ source: 'import insitu\ndef g():\n    d = insitu.ds.load("plain")\n    return [type(d["p"]).__name__, d["p"].x + 1, type(d["i"]).__qualname__]' });
    expect(r.value).toEqual(['Plain', 42, 'Outer.Inner']);
  });

  it('shows Python-only objects to the host as handles with their class, and JSON values as values', async () => {
    const loaded = await alice.datastores.load('lm');
    expect(loaded['meta']).toEqual({ n: 20, by: 'train' });
    expect(loaded['model']).toBeInstanceOf(PythonObject);
    expect((loaded['model'] as PythonObject).class).toBe('LineModel');
    const info = await alice.datastores.list({ name: 'l%' });
    expect(info.map((d) => [d.name, d.owner, d.objectCount, d.description])).toEqual([['lm', 'alice', 2, 'line fit']]);
  });

  it('passes host values to UDFs: Arrow tables load as Frames, JSON values as Python values', async () => {
    await alice.datastores.save('from_host', {
      weights: { a: 1.5, b: [1, 2, 3] },
      table: tableFromArrays({ k: ['p', 'q'], v: Float64Array.from([0.5, 1.5]) }),
      label: 'hello',
    });
    const r = await alice.doEval({
      source: 'import insitu\ndef f():\n    d = insitu.ds.load("from_host")\n    t = d["table"]\n    return [type(t).__name__, t.columns, t["v"], d["weights"], d["label"]]',
    });
    expect(r.value).toEqual(['Frame', ['k', 'v'], [0.5, 1.5], { a: 1.5, b: [1, 2, 3] }, 'hello']);
    const back = await alice.datastores.load('from_host', { objs: ['table'] });
    expect(Object.keys(back)).toEqual(['table']);
    expect((back['table'] as Table).toArray().map((x) => x.toJSON())).toEqual([{ k: 'p', v: 0.5 }, { k: 'q', v: 1.5 }]);
  });

  it('describes each object: class, size, length, rows, columns', async () => {
    await alice.doEval({
      source: `
import insitu
def f():
    insitu.ds.save({"frame": insitu.Frame({"a": [1, 2, 3], "b": ["x", "y", "z"]}), "nums": [1, 2, 3, 4], "blob": b"1234567", "obj": ValueError("x")}, "desc")
`,
    });
    const rows = await alice.datastores.describe('desc');
    expect(rows.map((r) => [r.name, r.class, r.length, r.rows, r.columns])).toEqual([
      ['blob', 'bytes', 7, null, null],
      ['frame', 'Frame', 3, 3, 2],
      ['nums', 'list', 4, null, null],
      ['obj', 'ValueError', null, null, null],
    ]);
    expect(rows.every((r) => r.size > 0)).toBe(true);
    const [ds] = await alice.datastores.list({ name: 'desc' });
    expect(ds!.size).toBe(rows.reduce((a, r) => a + r.size, 0));
    const inside = await alice.doEval({ source: 'import insitu\ndef f():\n    return [(o["name"], o["class"]) for o in insitu.ds.describe("desc")]' });
    expect(inside.value).toEqual([['blob', 'bytes'], ['frame', 'Frame'], ['nums', 'list'], ['obj', 'ValueError']]);
  });

  it('appends, overwrites, loads subsets and deletes objects or whole datastores', async () => {
    const save = (body: string) => alice.doEval({ source: `import insitu\ndef f():\n    ${body}` });
    await save('insitu.ds.save({"a": 1, "b": 2}, "bag")');
    await rejectsWith(save('insitu.ds.save({"c": 3}, "bag")'), 'ALREADY_EXISTS');
    await save('insitu.ds.save({"b": 20, "c": 3}, "bag", append=True)');
    expect(await alice.datastores.load('bag')).toEqual({ a: 1, b: 20, c: 3 });
    expect((await save('return insitu.ds.load("bag", objs=["a", "c"])')).value).toEqual({ a: 1, c: 3 });
    await rejectsWith(save('return insitu.ds.load("bag", objs=["zzz"])'), 'BAD_INPUT');
    await save('insitu.ds.save({"z": 26}, "bag", overwrite=True)');
    expect(await alice.datastores.load('bag')).toEqual({ z: 26 });
    await rejectsWith(save('insitu.ds.save({"y": 1}, "bag", overwrite=True, append=True)'), 'BAD_INPUT');
    await save('insitu.ds.save({"y": 25}, "bag", append=True)');
    expect((await save('return insitu.ds.delete("bag", objs=["z"])')).value).toBe(1);
    expect(await alice.datastores.load('bag')).toEqual({ y: 25 });
    expect(await alice.datastores.delete('bag')).toBe(1);
    await rejectsWith(alice.datastores.load('bag'), 'DATASTORE_NOT_FOUND');
    const gone = await save('try:\n        insitu.ds.load("bag")\n    except insitu.NotFoundError as e:\n        return e.code');
    expect(gone.value).toBe('DATASTORE_NOT_FOUND');
    // to_globals puts the objects into the UDF's globals.
    await alice.datastores.save('g', { threshold: 7 });
    expect((await save('insitu.ds.load("g", to_globals=True)\n    return threshold * 2')).value).toBe(14);
  });

  it('writes nothing when any object cannot be serialised, keeping the previous datastore intact', async () => {
    await alice.datastores.save('safe', { keep: 'old' });
    const e = await rejectsWith(
      alice.doEval({ source: 'import insitu\ndef f():\n    insitu.ds.save({"ok": 1, "bad": (lambda x: x)}, "safe", overwrite=True)' }),
      'PYTHON_ERROR',
    );
    expect(e.message).toMatch(/'bad'/);
    expect(await alice.datastores.load('safe')).toEqual({ keep: 'old' });
    const e2 = await rejectsWith(alice.datastores.save('safe', { ok: 1, when: new Date() }, { overwrite: true }), 'BAD_INPUT');
    expect(e2.message).toMatch(/when/);
    expect(await alice.datastores.load('safe')).toEqual({ keep: 'old' });
    await rejectsWith(alice.datastores.save('bad name', { a: 1 }), 'BAD_INPUT');
    await rejectsWith(alice.datastores.save('empty', {}), 'BAD_INPUT');
  });

  it('ends concurrent saves to one name from two sessions in one consistent datastore', async () => {
    const s1 = engine.session({ user: 'alice' });
    const s2 = engine.session({ user: 'alice' });
    const src = 'import insitu\ndef f(i):\n    insitu.ds.save({"a": i, "b": i, "c": [i] * 100}, "race", overwrite=True)\n    return i';
    await Promise.all([
      s1.indexApply(8, { source: src }, { parallel: true }),
      s2.indexApply(8, { source: src }, { parallel: true }),
      ...Array.from({ length: 8 }, (_, i) => s2.datastores.save('race', { a: 100 + i, b: 100 + i, c: Array(100).fill(100 + i) }, { overwrite: true })),
    ]);
    const final = (await alice.datastores.load('race')) as { a: number; b: number; c: number[] };
    expect(final.a).toBe(final.b);
    expect(new Set(final.c)).toEqual(new Set([final.a]));
    expect((await alice.datastores.describe('race')).map((o) => o.name)).toEqual(['a', 'b', 'c']);
  });
});

describe('privileges', () => {
  let bob: Session;
  let carol: Session;
  beforeAll(async () => {
    bob = engine.session({ user: 'bob' });
    carol = engine.session({ user: 'carol' });
    await alice.scripts.create('priv_script', 'def priv_script():\n    return "alice private"');
    await alice.scripts.create('glob_script', 'def glob_script():\n    return "alice global"', { global: true });
    await alice.datastores.save('secret_ds', { v: 1 }, { grantable: true });
    await alice.datastores.save('locked_ds', { v: 2 });
  });

  const udfLoad = (s: Session, name: string, owner: string) =>
    s.doEval({ source: 'import insitu\ndef f(name, owner):\n    return insitu.ds.load(name, owner=owner)' }, { args: { name, owner } });

  it('hides other users\' private scripts and datastores, answering exactly as if they did not exist', async () => {
    const invisible = await rejectsWith(bob.doEval({ name: 'priv_script', owner: 'alice' }), 'SCRIPT_NOT_FOUND');
    const missing = await rejectsWith(bob.doEval({ name: 'nope_script', owner: 'alice' }), 'SCRIPT_NOT_FOUND');
    expect(invisible.message.replace('priv_script', 'X')).toBe(missing.message.replace('nope_script', 'X'));
    await rejectsWith(bob.scripts.load('priv_script', { owner: 'alice' }), 'SCRIPT_NOT_FOUND');
    const dsInvisible = await rejectsWith(bob.datastores.load('secret_ds', { owner: 'alice' }), 'DATASTORE_NOT_FOUND');
    const dsMissing = await rejectsWith(bob.datastores.load('no_ds', { owner: 'alice' }), 'DATASTORE_NOT_FOUND');
    expect(dsInvisible.message.replace('secret_ds', 'X')).toBe(dsMissing.message.replace('no_ds', 'X'));
    await rejectsWith(bob.datastores.describe('secret_ds', { owner: 'alice' }), 'DATASTORE_NOT_FOUND');
    await rejectsWith(udfLoad(bob, 'secret_ds', 'alice'), 'DATASTORE_NOT_FOUND');
    expect(await bob.datastores.list({ type: 'all' })).toEqual([]);
    // Global scripts are visible to everyone.
    expect((await bob.doEval('glob_script')).value).toBe('alice global');
    expect((await bob.doEval({ name: 'glob_script', owner: 'alice' })).value).toBe('alice global');
  });

  it('lets only the owner grant; grants make scripts runnable and datastores readable; revoke takes it back', async () => {
    await rejectsWith(bob.grant({ script: 'priv_script', to: 'bob' }), 'SCRIPT_NOT_FOUND');
    await rejectsWith(bob.grant({ datastore: 'secret_ds', to: 'bob' }), 'DATASTORE_NOT_FOUND');
    await alice.grant({ script: 'priv_script', to: 'bob' });
    await alice.grant({ datastore: 'secret_ds', to: 'bob' });

    expect((await bob.doEval({ name: 'priv_script', owner: 'alice' })).value).toBe('alice private');
    expect((await bob.scripts.load('priv_script', { owner: 'alice' })).source).toContain('alice private');
    expect((await bob.scripts.list({ type: 'granted' })).map((s) => [s.name, s.owner])).toEqual([['priv_script', 'alice']]);
    expect((await alice.scripts.list({ type: 'grant' })).map((s) => [s.name, s.grantee])).toEqual([['priv_script', 'bob']]);
    expect(await bob.datastores.load('secret_ds', { owner: 'alice' })).toEqual({ v: 1 });
    expect((await udfLoad(bob, 'secret_ds', 'alice')).value).toEqual({ v: 1 });
    expect((await bob.datastores.list({ type: 'granted' })).map((d) => [d.name, d.owner])).toEqual([['secret_ds', 'alice']]);
    expect((await alice.datastores.list({ type: 'grant' })).map((d) => [d.name, d.grantee])).toEqual([['secret_ds', 'bob']]);
    const dirInside = await bob.doEval({ source: 'import insitu\ndef f():\n    return [(d["name"], d["owner"]) for d in insitu.ds.dir(type="all")]' });
    expect(dirInside.value).toEqual([['secret_ds', 'alice']]);

    // A grant is read only: no writes, no re-granting by the grantee.
    await rejectsWith(bob.datastores.delete('secret_ds', { owner: 'alice' }), 'PRIVILEGE');
    // Bob can see both objects, so re-granting them is a missing privilege, not a missing object.
    await rejectsWith(bob.grant({ datastore: 'secret_ds', to: 'carol' }), 'PRIVILEGE');
    await rejectsWith(bob.grant({ script: 'priv_script', to: 'carol' }), 'PRIVILEGE');
    await rejectsWith(bob.revoke({ script: 'priv_script', to: 'bob' }), 'PRIVILEGE');
    // Carol, who sees neither, still gets "not found".
    await rejectsWith(carol.grant({ script: 'priv_script', to: 'carol' }), 'SCRIPT_NOT_FOUND');
    // Carol still sees nothing.
    await rejectsWith(carol.doEval({ name: 'priv_script', owner: 'alice' }), 'SCRIPT_NOT_FOUND');
    await rejectsWith(udfLoad(carol, 'secret_ds', 'alice'), 'DATASTORE_NOT_FOUND');

    expect(await alice.revoke({ script: 'priv_script', to: 'bob' })).toBe(true);
    expect(await alice.revoke({ datastore: 'secret_ds', to: 'bob' })).toBe(true);
    expect(await alice.revoke({ datastore: 'secret_ds', to: 'bob' })).toBe(false);
    await rejectsWith(bob.doEval({ name: 'priv_script', owner: 'alice' }), 'SCRIPT_NOT_FOUND');
    await rejectsWith(udfLoad(bob, 'secret_ds', 'alice'), 'DATASTORE_NOT_FOUND');
  });

  it('grants to PUBLIC reach every user; datastores saved without grantable cannot be granted', async () => {
    await alice.grant({ datastore: 'secret_ds', to: 'PUBLIC' });
    await alice.grant({ script: 'priv_script', to: 'public' });
    for (const s of [bob, carol]) {
      expect((await udfLoad(s, 'secret_ds', 'alice')).value).toEqual({ v: 1 });
      expect((await s.doEval({ name: 'priv_script', owner: 'alice' })).value).toBe('alice private');
    }
    expect((await alice.datastores.list({ type: 'grant' })).map((d) => d.grantee)).toEqual(['PUBLIC']);
    const e = await rejectsWith(alice.grant({ datastore: 'locked_ds', to: 'bob' }), 'PRIVILEGE');
    expect(e.message).toMatch(/alice/);
    expect(e.message).toMatch(/locked_ds/);
    await rejectsWith(alice.grant({ script: 'glob_script', to: 'bob' }), 'BAD_INPUT');
    await alice.revoke({ datastore: 'secret_ds', to: 'PUBLIC' });
    await alice.revoke({ script: 'priv_script', to: 'PUBLIC' });
    await rejectsWith(udfLoad(carol, 'secret_ds', 'alice'), 'DATASTORE_NOT_FOUND');
  });

  it('runs UDFs with the privileges of the calling user, whoever owns the script', async () => {
    // Alice's global script reads a datastore of the caller's: each caller sees their own.
    await alice.scripts.create('read_mine', 'import insitu\ndef read_mine():\n    return insitu.ds.load("mine")["who"]', { global: true });
    await bob.datastores.save('mine', { who: 'bob' });
    await carol.datastores.save('mine', { who: 'carol' });
    expect((await bob.doEval('read_mine')).value).toBe('bob');
    expect((await carol.doEval('read_mine')).value).toBe('carol');
    // Saving from a UDF always writes the caller's own datastore; deleting another's is refused.
    await bob.doEval({ source: 'import insitu\ndef f():\n    insitu.ds.save({"x": 1}, "bobs")' });
    expect((await bob.datastores.list()).map((d) => d.name)).toContain('bobs');
    expect((await alice.datastores.list()).map((d) => d.name)).not.toContain('bobs');
    await bob.grant({ datastore: 'mine', to: 'carol' }).catch(() => undefined);
    await rejectsWith(carol.doEval({ source: 'import insitu\ndef f():\n    insitu.ds.delete("bobs")' }), 'DATASTORE_NOT_FOUND');
    expect((await bob.datastores.list()).map((d) => d.name)).toContain('bobs');
  });
});

describe('database context inside a UDF', () => {
  it('queries with the caller\'s context and returns a Frame; refuses writes in a read-only call and changes nothing', async () => {
    const r = await alice.doEval({
      source: `
import insitu
def f():
    conn = insitu.connect()
    df = conn.query("select x, y from POINTS where x < ? order by x", [3])
    try:
        conn.execute("delete from POINTS")
    except insitu.PrivilegeError as e:
        return [type(df).__name__, df.to_dict(), e.code]
`,
    });
    expect(r.value).toEqual(['Frame', { x: [0, 1, 2], y: [3, 5, 7] }, 'PRIVILEGE']);
    expect(await alice.table('POINTS').count()).toBe(20);
    const uncaught = await rejectsWith(
      alice.doEval({ source: 'import insitu\ndef f():\n    insitu.connect().execute("update POINTS set y = 0")' }),
      'PRIVILEGE',
    );
    expect(uncaught.traceback).toMatch(/line 3, in f/);
    expect((await alice.query('select sum(y) as s from POINTS').pull()).get(0)!.toJSON().s).toBe(440);
  });

  it('writes user tables when the call asks for a write context', async () => {
    const src = 'import insitu\ndef f(rows):\n    c = insitu.connect()\n    c.execute("create table if not exists OUT_T (k integer, v text)")\n    return sum(c.execute("insert into OUT_T values (?, ?)", [i, f"v{i}"]) for i in range(rows))';
    expect((await alice.doEval({ source: src }, { args: { rows: 3 }, context: 'write' })).value).toBe(3);
    expect((await alice.table('OUT_T').pull()).toArray().map((x) => x.toJSON())).toEqual([
      { k: 0, v: 'v0' }, { k: 1, v: 'v1' }, { k: 2, v: 'v2' },
    ]);
    await rejectsWith(alice.doEval({ source: src }, { args: { rows: 1 }, context: 'admin' as never }), 'BAD_INPUT');
  });

  it('never reaches engine tables, in read or write context', async () => {
    const attempts = [
      'c.query("select * from insitu_engine_datastores")',
      'c.query("select name from POINTS, insitu_engine_scripts")',
      'c.execute("delete from insitu_engine_grants")',
      'c.execute("drop table insitu_engine_scripts")',
      'c.execute("pragma user_version = 0")',
      'c.execute("attach database \':memory:\' as x")',
      'c.query("select 1; select 2")',
    ];
    for (const attempt of attempts) {
      for (const context of ['read', 'write'] as const) {
        const e = await alice
          .doEval({ source: `import insitu\ndef f():\n    c = insitu.connect()\n    return ${attempt}` }, { context })
          .then(() => null, (err: { code: string }) => err.code);
        expect(['BAD_INPUT', 'PRIVILEGE'], `${attempt} (${context})`).toContain(e);
      }
    }
    expect((await alice.scripts.list({ type: 'all' })).length).toBeGreaterThan(0);
    expect((await alice.datastores.list()).length).toBeGreaterThan(0);
  });

  it('says clearly that a :memory: engine has no database context', async () => {
    const mem = await createEngine({ database: ':memory:', workers: 1 });
    try {
      const e = await rejectsWith(mem.session().doEval({ source: 'import insitu\ndef f():\n    return insitu.connect().query("select 1")' }), 'BAD_INPUT');
      expect(e.message).toMatch(/:memory:/);
      // Datastores work there: they go through the engine.
      const s = mem.session({ user: 'm' });
      await s.doEval({ source: 'import insitu\ndef f():\n    insitu.ds.save({"a": 1}, "d")' });
      expect(await s.datastores.load('d')).toEqual({ a: 1 });
    } finally {
      await mem.close();
    }
  });
});
