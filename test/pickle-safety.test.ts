import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

// Alice saves objects and grants them to bob; bob loads them in his own calls. Another user's pickles
// may use only plain values, a few standard classes, and classes of scripts bob can see; a payload that
// would run alice's code in bob's call (writing a marker datastore as bob) must be refused before it runs.

let engine: Engine;
let alice: Session;
let bob: Session;
const db = tempDatabase();

/** Alice's stored script: a model class and the function that fits it and saves it. */
const TRAIN_LINE = `
import insitu

class LineModel:
    def __init__(self, a, b):
        self.a, self.b = a, b
    def predict(self, x):
        return self.a + self.b * x

def train_line(a, b):
    insitu.ds.save({"model": LineModel(a, b), "when": __import__("datetime").date(2026, 1, 2)}, "line", overwrite=True, grantable=True)
    return "saved"
`;

/** A __reduce__ payload per dangerous callable: each would save a marker datastore as the loader. */
const MALICIOUS = `
import insitu, os, subprocess

MARK = "import insitu\\ninsitu.ds.save({'ran': 1}, 'marker_reduce', overwrite=True)"

class ViaExec:
    def __reduce__(self):
        return (exec, (MARK,))

class ViaEval:
    def __reduce__(self):
        return (eval, ("exec(" + repr(MARK) + ")",))

class ViaPopen:
    def __reduce__(self):
        return (subprocess.Popen, (["true"],))

def f():
    for name, obj in [("evil_exec", ViaExec()), ("evil_eval", ViaEval()), ("evil_popen", ViaPopen())]:
        insitu.ds.save({"x": obj}, name, overwrite=True, grantable=True)
    # Not through insitu.ds.save: bytes written by hand, naming a module that prints when imported and one that does not exist.
    for name, raw in [("evil_import", b"cthis\\nd\\n."), ("evil_unknown", b"cevilmod\\nThing\\n)R.")]:
        meta = {"name": "x", "class": "Thing", "length": None, "rows": None, "columns": None, "format": "pickle"}
        insitu._host.call("dsSave", {"name": name, "objects": [meta], "opts": {"overwrite": True, "grantable": True}}, [raw])
    return "saved"
`;

/** An inline (never stored) script: its class travels by value; loading runs its top level, which writes a marker. */
const BY_VALUE = `
import insitu
insitu.ds.save({"ran": 1}, "marker_byvalue", overwrite=True)

class Gadget:
    def hello(self):
        return "gadget"

def f():
    insitu.ds.save({"g": Gadget()}, "evil_byvalue", overwrite=True, grantable=True)
    return "saved"
`;

/** Bob's loader: loads a datastore of alice's and reports what happened, without failing the call. */
const LOAD = `
import insitu

def load(name, trust=False):
    try:
        objs = insitu.ds.load(name, owner="alice", trust=trust)
    except insitu.PrivilegeError as e:
        return {"code": e.code, "message": str(e)}
    out = {k: type(v).__name__ for k, v in objs.items()}
    if "model" in objs:
        out["predict"] = objs["model"].predict(10)
    if "g" in objs:
        out["hello"] = objs["g"].hello()
    return out
`;

const markers = async () => (await bob.datastores.list({ name: 'marker%' })).map((d) => d.name);

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2 });
  alice = engine.session({ user: 'alice' });
  bob = engine.session({ user: 'bob' });
  await alice.scripts.create('train_line', TRAIN_LINE);
  expect((await alice.doEval('train_line', { args: { a: 1, b: 2 } })).value).toBe('saved');
  expect((await alice.doEval({ source: MALICIOUS })).value).toBe('saved');
  expect((await alice.doEval({ source: BY_VALUE })).value).toBe('saved');
  for (const datastore of ['line', 'evil_exec', 'evil_eval', 'evil_popen', 'evil_import', 'evil_unknown', 'evil_byvalue']) {
    await alice.grant({ datastore, to: 'bob' });
  }
  await bob.scripts.create('load', LOAD);
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

describe('loading pickled objects another user saved', () => {
  it('loads your own objects as before, classes of unstored scripts included', async () => {
    const own = await alice.doEval({
      source: 'import insitu\ndef f():\n    m = insitu.ds.load("line")["model"]\n    g = insitu.ds.load("evil_byvalue")["g"]\n    return [m.predict(10), g.hello()]',
    });
    expect(own.value).toEqual([21, 'gadget']);
  });

  it('refuses another owner\'s model whose class comes from a script the loader cannot see, and loads it once the script is granted', async () => {
    const refused = (await bob.doEval('load', { args: { name: 'line' } })).value as { code: string; message: string };
    expect(refused.code).toBe('PRIVILEGE');
    expect(refused.message).toMatch(/LineModel.*not one you can see/);

    await alice.grant({ script: 'train_line', to: 'bob' });
    try {
      expect((await bob.doEval('load', { args: { name: 'line' } })).value).toEqual({ model: 'LineModel', when: 'date', predict: 21 });
    } finally {
      await alice.revoke({ script: 'train_line', to: 'bob' });
    }
    // Visibility is asked at each load: revoked, refused again.
    expect(((await bob.doEval('load', { args: { name: 'line' } })).value as { code: string }).code).toBe('PRIVILEGE');
  });

  it('loads another owner\'s model whose class comes from a global script', async () => {
    const source = TRAIN_LINE.replace('def train_line', 'def train_line_global');
    await alice.scripts.create('train_line_global', source, { global: true });
    try {
      await alice.doEval('train_line_global', { args: { a: 2, b: 3 } });
      expect((await bob.doEval('load', { args: { name: 'line' } })).value).toEqual({ model: 'LineModel', when: 'date', predict: 32 });
    } finally {
      await alice.doEval('train_line', { args: { a: 1, b: 2 } });
      await alice.scripts.drop('train_line_global', { global: true });
    }
  });

  it('refuses malicious __reduce__ payloads with PRIVILEGE naming what they call, and none of them runs', async () => {
    const expected: Record<string, RegExp> = {
      evil_exec: /builtins\.exec/,
      evil_eval: /builtins\.eval/,
      evil_popen: /subprocess\.Popen/,
      evil_import: /this\.d/,
      evil_unknown: /evilmod\.Thing/,
    };
    for (const [name, names] of Object.entries(expected)) {
      const r = await bob.doEval('load', { args: { name } });
      const v = r.value as { code: string; message: string };
      expect(v.code, name).toBe('PRIVILEGE');
      expect(v.message, name).toMatch(names);
      expect(v.message, name).toContain("saved by user alice");
      // `this` prints the Zen of Python when imported: refused names are never imported.
      expect(r.stdout, name).not.toContain('Beautiful is better than ugly');
    }
    // Uncaught, the call fails with PRIVILEGE naming the callable.
    const e = await rejectsWith(bob.doEval({ source: 'import insitu\ndef f():\n    insitu.ds.load("evil_exec", owner="alice")' }), 'PRIVILEGE');
    expect(e.message).toContain('builtins.exec');
    expect(await markers()).toEqual([]);
  });

  it('from a visible script, takes only the classes and functions it defines, not what it imported', async () => {
    // A hand-made by-value reference into train_line's namespace, reaching the insitu module it imports.
    const craft =
      'import insitu\nfrom insitu import _pickling\nclass Reach:\n    def __init__(self, src): self.src = src\n' +
      '    def __reduce__(self): return (_pickling._rebuild, (self.src, "insitu.connect"))\n' +
      'def f(src):\n    insitu.ds.save({"x": Reach(src)}, "evil_reach", overwrite=True, grantable=True)';
    await alice.doEval({ source: craft }, { args: { src: TRAIN_LINE } });
    await alice.grant({ datastore: 'evil_reach', to: 'bob' });
    await alice.grant({ script: 'train_line', to: 'bob' });
    try {
      const v = (await bob.doEval('load', { args: { name: 'evil_reach' } })).value as { code: string; message: string };
      expect(v.code).toBe('PRIVILEGE');
      expect(v.message).toContain('insitu.connect');
    } finally {
      await alice.revoke({ script: 'train_line', to: 'bob' });
    }
    // The engine answers only a well-formed hash, and only whether such a script is visible.
    const bad = await bob.doEval({ source: 'import insitu\ndef f():\n    try:\n        insitu._host.call("dsVisibleScript", {"hash": "../x"})\n    except insitu.InsituError as e:\n        return e.code' });
    expect(bad.value).toBe('BAD_INPUT');
  });

  it('refuses a by-value class whose source is no script the loader can see, without running that source', async () => {
    const v = (await bob.doEval('load', { args: { name: 'evil_byvalue' } })).value as { code: string; message: string };
    expect(v.code).toBe('PRIVILEGE');
    expect(v.message).toContain('Gadget');
    expect(await markers()).toEqual([]);
  });

  it('with trust=True loads them anyway, running the saver\'s code with the loader\'s privileges', async () => {
    expect((await bob.doEval('load', { args: { name: 'evil_byvalue', trust: true } })).value).toEqual({ g: 'Gadget', hello: 'gadget' });
    expect(await markers()).toEqual(['marker_byvalue']);
    expect((await bob.doEval('load', { args: { name: 'evil_exec', trust: true } })).value).toEqual({ x: 'NoneType' });
    expect(await markers()).toEqual(['marker_byvalue', 'marker_reduce']);
    // The markers were written as bob, in bob's datastores: the documented price of trust=True.
    expect((await bob.datastores.list({ name: 'marker%' })).map((d) => d.owner)).toEqual(['bob', 'bob']);
    await rejectsWith(bob.doEval({ source: 'import insitu\ndef f():\n    insitu.ds.load("line", owner="alice", trust="yes")' }), 'PYTHON_ERROR');
  });
});
