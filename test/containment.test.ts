// Attacks from UDFs on what the default isolation promises: no route from Python to JavaScript, and no
// state crossing from one user's calls to another's. Each attack is a plain UDF; each test also checks
// that the engine and other users are unaffected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session } from 'insitu';
import { tempDatabase } from './helpers.js';

let engine: Engine;
let mallory: Session;
let alice: Session;
const db = tempDatabase();

beforeAll(async () => {
  // One worker, so every user switch happens on the same worker thread.
  engine = await createEngine({ database: db.path, workers: 1 });
  mallory = engine.session({ user: 'mallory' });
  alice = engine.session({ user: 'alice' });
  await alice.create('PRIVATE', [{ secret: 's3cr3t' }]);
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

/** Run `body` as mallory's UDF; its value, or 'refused: CODE message' when the call failed. */
async function attempt(body: string, who: Session = mallory): Promise<unknown> {
  const source = `def f():\n${body.split('\n').map((l) => `    ${l}`).join('\n')}\n`;
  return who.doEval({ source }).then(
    (r) => r.value,
    (e: { code: string; message: string }) => `refused: ${e.code} ${e.message}`,
  );
}

async function engineServesOthers(): Promise<void> {
  expect((await alice.doEval({ source: 'def f():\n    return "alive"' })).value).toBe('alive');
}

// Objects Python can get hold of: the host channel, values made by to_js, a JS error, and every JS proxy
// the garbage collector knows about.
const SEEDS = `
import gc, sys
from pyodide.ffi import to_js, JsProxy
import _insitu_host
seeds = [("host", _insitu_host), ("host.ds", _insitu_host.ds), ("obj", to_js({"a": 1})), ("arr", to_js([1, 2])), ("map", to_js({1: 2}))]
try:
    _insitu_host.ds.call.apply(None, [1, 2])
except Exception as e:
    if hasattr(e, "js_error"):
        seeds.append(("error", e.js_error))
for o in gc.get_objects():
    if isinstance(o, JsProxy):
        seeds.append(("gc", o))
for name, mod in list(sys.modules.items()):
    for k, v in list(vars(mod).items()) if hasattr(mod, "__dict__") else []:
        if isinstance(v, JsProxy):
            seeds.append((name + "." + k, v))
O = to_js({}).constructor
`;

describe('no route from Python to JavaScript (frozen realm)', () => {
  const PLANTS: Record<string, string> = {
    'a getter on Object.prototype': 'O.defineProperty(O.prototype, "planted", {"get": lambda: 1, "configurable": True})',
    'a property on Object.prototype': 'to_js({}).__proto__.planted = 1',
    'a method on Function.prototype': '_insitu_host.ds.__proto__.planted = 1',
    'a getter on Array.prototype': 'O.defineProperty(to_js([1]).__proto__, "planted", {"get": lambda: 1})',
    'Promise.prototype.then': 'O.getPrototypeOf(O.getPrototypeOf(to_js([1]).entries())).planted = 1\nP = O.getOwnPropertyDescriptor(O.getPrototypeOf(to_js({})), "constructor")\nto_js([]).constructor.prototype.then = 1',
    'a replaced host channel function': '_insitu_host.ds = lambda *a: 1',
  };
  for (const [name, plant] of Object.entries(PLANTS)) {
    it(`cannot plant ${name}`, async () => {
      const r = await attempt(`${SEEDS}\n${plant}\nreturn "planted"`);
      expect(String(r)).toMatch(/^refused: PYTHON_ERROR .*(not extensible|read[- ]only|Cannot (assign|add|define|redefine)|object is not extensible|frozen)/i);
      await engineServesOthers();
    });
  }

  it('cannot get JavaScript to run from a string (Function constructor, eval, Worker, import)', async () => {
    for (const route of [
      'O.constructor("return 1")()',
      '_insitu_host.ds.constructor.constructor("return process")()',
      'to_js([]).constructor.constructor("return 1")()',
    ]) {
      expect(String(await attempt(`${SEEDS}\nreturn str(${route})`))).toMatch(/^refused: PYTHON_ERROR/);
    }
    await engineServesOthers();
  });

  it('reaches no powerful object from any JS object it holds: no process, globalThis, require, dlopen or Pyodide API', async () => {
    // Breadth-first through own properties and prototypes of every object reachable from the seeds.
    const r = await attempt(`${SEEDS}
seen, queue, found, mutable_protos, n = set(), list(seeds), [], [], 0
while queue and n < 6000:
    path, x = queue.pop(0)
    n += 1
    try:
        k = x.js_id
    except Exception:
        continue
    if k in seen:
        continue
    seen.add(k)
    for marker in ("pid", "dlopen", "versions", "require", "runPython", "loadPackage", "_module", "globalThis", "setTimeout", "Buffer"):
        try:
            if O.prototype.hasOwnProperty.call(x, marker):
                found.append(path + " has " + marker)
        except Exception:
            pass
    try:
        p = O.getPrototypeOf(x)
        if p is not None:
            queue.append((path + ".__proto__", p))
            if not O.isFrozen(p):
                mutable_protos.append(path + ".__proto__")
    except Exception:
        pass
    try:
        names = list(O.getOwnPropertyNames(x))
    except Exception:
        names = []
    for nm in names[:80]:
        try:
            d = O.getOwnPropertyDescriptor(x, nm)
            for part in ("value", "get", "set"):
                v = getattr(d, part, None)
                if isinstance(v, JsProxy):
                    queue.append((path + "." + nm, v))
        except Exception:
            pass
return {"visited": n, "found": found[:20], "mutable_prototypes": mutable_protos[:20]}`);
    const out = r as { visited: number; found: string[]; mutable_prototypes: string[] };
    expect(out.visited, String(r)).toBeGreaterThan(500);
    expect(out.found).toEqual([]);
    expect(out.mutable_prototypes).toEqual([]);
    await engineServesOthers();
  });

  it('gets nothing from a destroyed proxy', async () => {
    const r = await attempt(`${SEEDS}
from pyodide.ffi import create_proxy
p = create_proxy(lambda: 1)
p.destroy()
try:
    O.defineProperty(O.prototype, "x", {"get": lambda: 1})
except Exception:
    pass
try:
    p()
except Exception as e:
    return type(e).__name__
return "called"`);
    expect(String(r)).not.toBe('called');
    await engineServesOthers();
  });
});

describe('no state crosses users', () => {
  it("one user's changes to the interpreter never reach another user's calls, and stay for the same user", async () => {
    // mallory patches the runner every call goes through, a stdlib module and builtins, and stashes a value.
    const patched = await attempt(`
import builtins, json, insitu._runner as runner
builtins.STOLEN = []
real = runner._call
def spy(*a, **k):
    builtins.STOLEN.append(repr(a)[:200])
    return real(*a, **k)
runner._call = spy
json.dumps = lambda *a, **k: '"hijacked"'
return "patched"`);
    expect(patched).toBe('hijacked'); // her own result already went through her json.dumps
    // Her next call runs in the same interpreter (per-user warm workers keep state for the same user)...
    expect(await attempt('import builtins\nreturn len(builtins.STOLEN)')).toBe('hijacked');
    // ...but alice's call on the same (only) worker sees none of it, and nothing of hers is captured.
    const seen = await attempt(
      `
import builtins, json, insitu._runner as runner
return [hasattr(builtins, "STOLEN"), runner._call.__name__, json.dumps(1)]`,
      alice,
    );
    expect(seen).toEqual([false, '_call', '1']);
    expect((await alice.rowApply(alice.table('PRIVATE'), { source: 'def f(df):\n    return {"n": [len(df)]}' })).partitions).toHaveLength(1);
    // When mallory comes back, the worker served alice in between: she gets a clean interpreter too.
    expect(await attempt('import builtins\nreturn hasattr(builtins, "STOLEN")')).toBe(false);
  });

  it("a script checked for one user does not run in another user's interpreter", async () => {
    // Creating a script compiles it in an interpreter of its owner: mallory's patch of the compiler
    // must not see alice's source.
    await attempt(`
import builtins, insitu._runner as runner
builtins.SOURCES = []
real = runner._compile
def spy(source, name):
    builtins.SOURCES.append(source)
    return real(source, name)
runner._compile = spy
return 1`);
    await alice.scripts.create('alices_model', 'def alices_model():\n    return "coefficients 1 2 3"', { overwrite: true });
    expect((await alice.doEval('alices_model')).value).toBe('coefficients 1 2 3');
    const leaked = await attempt('import builtins\nreturn [s for s in getattr(builtins, "SOURCES", []) if "coefficients" in s]');
    expect(leaked).toEqual([]);
  });
});
