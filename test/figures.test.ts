import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createEngine, decodeResult, encodeResult, type Engine, type Session } from 'insitu';
import { irisRows, rejectsWith, tempDatabase } from './helpers.js';
import { PNG_SOURCE } from './package-mirror.js';

// Figures without matplotlib (offline there is none): insitu.image() with PNGs the UDFs build with
// zlib and struct, and the checks on what leaves the worker. The engine runs with the default isolation.
const db = tempDatabase();
let engine: Engine;
let me: Session;

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const isPng = (b: Uint8Array) => b instanceof Uint8Array && SIGNATURE.every((x, i) => b[i] === x);

/** Seed 004's shape: query the table through insitu.connect(), draw, return the PNG bytes. */
const PLOT_SPECIES = `${PNG_SOURCE}
import insitu

def plot_species():
    conn = insitu.connect()
    rows = conn.query("select SPECIES, avg(PETAL_LENGTH) as L from IRIS group by SPECIES order by SPECIES")
    png = tiny_png(int(rows["L"][0] * 10))
    insitu.image(png, title="petal length by species")
    return png
`;

const PER_GROUP = `${PNG_SOURCE}
import insitu

def per_group(df):
    insitu.image(tiny_png(len(df)), title=df["SPECIES"][0])
    insitu.image(tiny_png(1))
    return {"n": [len(df)]}
`;

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2, users: 'registered' });
  await engine.users.create('alice', { password: 'correct horse battery' });
  await engine.users.create('mallory', { password: 'correct horse battery' });
  await engine.users.create('painter', { password: 'correct horse battery' });
  me = engine.session({ user: 'alice' });
  await me.create('IRIS', irisRows(), { overwrite: true });
  await me.scripts.create('plot_species', PLOT_SPECIES);
  await me.scripts.create('per_group', PER_GROUP);
});

afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

describe('insitu.image()', () => {
  it("seed 004: a UDF queries IRIS through insitu.connect(), draws, and returns the PNG bytes; the image is in the partition's result", async () => {
    const r = await me.doEval('plot_species');
    expect(isPng(r.value as Uint8Array)).toBe(true);
    expect(r.partitions[0]!.images).toHaveLength(1);
    const img = r.partitions[0]!.images[0]!;
    expect(img).toMatchObject({ id: 1, title: 'petal length by species' });
    expect([...img.png]).toEqual([...(r.value as Uint8Array)]);
    expect(r.images).toEqual([{ ...img, partition: null }]);
  });

  it('numbers images per partition and lists them all in partition order with their keys (groups read by the workers, row chunks, indexes)', async () => {
    const g = await me.groupApply(me.table('IRIS'), ['SPECIES'], 'per_group', { parallel: true });
    expect(g.partitions.map((p) => p.images.map((im) => [im.id, im.title]))).toEqual([
      [[1, 'setosa'], [2, null]],
      [[1, 'versicolor'], [2, null]],
      [[1, 'virginica'], [2, null]],
    ]);
    expect(g.images.map((im) => [im.partition, im.id])).toEqual([
      [{ SPECIES: 'setosa' }, 1], [{ SPECIES: 'setosa' }, 2],
      [{ SPECIES: 'versicolor' }, 1], [{ SPECIES: 'versicolor' }, 2],
      [{ SPECIES: 'virginica' }, 1], [{ SPECIES: 'virginica' }, 2],
    ]);
    expect(g.images.every((im) => isPng(im.png))).toBe(true);
    const rows = await me.rowApply(me.table('IRIS'), 'per_group', { rows: 75, parallel: true });
    expect(rows.images.map((im) => [im.partition, im.id, im.title])).toEqual([
      [{ chunk: 1, start: 0, rows: 75 }, 1, 'setosa'], [{ chunk: 1, start: 0, rows: 75 }, 2, null],
      [{ chunk: 2, start: 75, rows: 75 }, 1, 'versicolor'], [{ chunk: 2, start: 75, rows: 75 }, 2, null],
    ]);
    const idx = await me.indexApply(3, { source: `${PNG_SOURCE}\nimport insitu\ndef f(i):\n    for _ in range(i):\n        insitu.image(tiny_png(i))\n    return i`, name: 'f' }, { parallel: true });
    expect(idx.partitions.map((p) => p.images.length)).toEqual([1, 2, 3]);
    expect(idx.images.map((im) => im.partition)).toEqual([1, 2, 2, 3, 3, 3]);
  });

  it('bytes that are not PNG are BAD_RESULT, from insitu.image() or past it (a UDF that swaps the collector)', async () => {
    const direct = await rejectsWith(me.doEval({ source: 'import insitu\ndef f():\n    insitu.image(b"GIF89a....")\n    return 1' }), 'BAD_RESULT');
    expect(direct.message).toMatch(/PNG signature/);
    expect(direct.line).toBe(3);
    await rejectsWith(me.doEval({ source: 'import insitu\ndef f():\n    insitu.image("not bytes")' }), 'BAD_RESULT');
    const ok = await me.doEval({ source: `${PNG_SOURCE}\nimport insitu\ndef f():\n    insitu.image(tiny_png())\n    return 2`, name: 'f' });
    expect(ok.partitions[0]!.images).toHaveLength(1);
    // Past the Python checks (a UDF that replaces the collector in its interpreter, which serves only
    // its user: mallory here), the worker checks the bytes again before they leave it.
    const mallory = engine.session({ user: 'mallory' });
    const swapped = 'import insitu._images as im\ndef f():\n    im.end = lambda graphics: [{"title": None, "png": b"<svg/>"}]\n    return 1';
    await rejectsWith(mallory.doEval({ source: swapped }), 'BAD_RESULT');
    const titled = 'import insitu._images as im\ndef f():\n    im.end = lambda graphics: [{"title": 42, "png": b"\\x89PNG\\r\\n\\x1a\\nxx"}]\n    return 1';
    await rejectsWith(mallory.doEval({ source: titled }), 'BAD_RESULT');
  });

  it('images of a failing partition are dropped with it; graphics: true without matplotlib keeps insitu.image() images only', async () => {
    await rejectsWith(me.doEval({ source: `${PNG_SOURCE}\nimport insitu\ndef f():\n    insitu.image(tiny_png())\n    raise ValueError("late")`, name: 'f' }), 'PYTHON_ERROR');
    const after = await me.doEval({ source: 'def f():\n    return 1' });
    expect(after.images).toEqual([]);
    const g = await me.doEval({ source: `${PNG_SOURCE}\nimport insitu\ndef f():\n    insitu.image(tiny_png(), title="t")\n    return 1`, name: 'f' }, { graphics: true });
    expect(g.images.map((im) => im.title)).toEqual(['t']);
    await rejectsWith(me.doEval({ source: 'def f():\n    return 1' }, { graphics: 'yes' as never }), 'BAD_INPUT');
  });

  it('images survive a job: the stored result keeps their numbers, titles and keys', async () => {
    const { id } = await me.jobs.submit({ kind: 'doEval', func: 'plot_species' });
    await me.jobs.wait(id, { timeoutMs: 60_000 });
    const r = await me.jobs.result(id);
    expect(r.images.map((im) => [im.id, im.title, im.partition])).toEqual([[1, 'petal length by species', null]]);
    expect(isPng(r.images[0]!.png)).toBe(true);
    const back = decodeResult(encodeResult(r));
    expect(back.partitions[0]!.images[0]).toMatchObject({ id: 1, title: 'petal length by species' });
  });
});

describe('graphics: true', () => {
  // matplotlib cannot be installed offline: this runs the capture of open figures against a stand-in
  // pyplot module holding figures that "save" PNGs, in an interpreter of its own user (it stays loaded there).
  const FAKE_PYPLOT = `${PNG_SOURCE}
import sys, types, insitu

class Text:
    def __init__(self, t):
        self._t = t
    def get_text(self):
        return self._t

class Figure:
    def __init__(self, num, title, shade):
        self.num, self.shade = num, shade
        self._suptitle = Text(title) if title is not None else None
    def savefig(self, buf, format=None):
        assert format == "png"
        buf.write(tiny_png(self.shade))

def install():
    plt = types.ModuleType("matplotlib.pyplot")
    plt.figs = {}
    plt.get_fignums = lambda: sorted(plt.figs)
    plt.figure = lambda num: plt.figs[num]
    def close(fig):
        if fig == "all":
            plt.figs.clear()
        else:
            plt.figs.pop(fig.num, None)
    plt.close = close
    sys.modules["matplotlib.pyplot"] = plt
    return plt

def f(n, fail=False):
    plt = sys.modules.get("matplotlib.pyplot") or install()
    for i in range(n, 0, -1):
        plt.figs[i] = Figure(i, f"figure {i}" if i % 2 else None, i)
    insitu.image(tiny_png(), title="explicit")
    if fail:
        raise ValueError("after drawing")
    return len(plt.get_fignums())
`;

  it('saves every figure left open, after the insitu.image() ones, in figure-number order with its suptitle, and closes them', async () => {
    const painter = engine.session({ user: 'painter' });
    const r = await painter.doEval({ source: FAKE_PYPLOT, name: 'f' }, { graphics: true, args: { n: 3 } });
    expect(r.value).toBe(3);
    expect(r.images.map((im) => [im.id, im.title])).toEqual([[1, 'explicit'], [2, 'figure 1'], [3, null], [4, 'figure 3']]);
    expect(r.images.every((im) => isPng(im.png))).toBe(true);
    // Closed: the next call starts with none open; without graphics, open figures are closed unsaved.
    const again = await painter.doEval({ source: FAKE_PYPLOT, name: 'f' }, { args: { n: 1 } });
    expect(again.value).toBe(1);
    expect(again.images.map((im) => im.title)).toEqual(['explicit']);
    const none = 'import sys\ndef g():\n    return sys.modules["matplotlib.pyplot"].get_fignums()';
    expect((await painter.doEval({ source: none })).value).toEqual([]);
    // A failing call's figures are closed with it.
    await rejectsWith(painter.doEval({ source: FAKE_PYPLOT, name: 'f' }, { graphics: true, args: { n: 2, fail: true } }), 'PYTHON_ERROR');
    expect((await painter.doEval({ source: none })).value).toEqual([]);
  });
});

describe('REST graphicsFlag', () => {
  it('answers {ID, DATA, IMAGE} with the base64 PNGs of each partition', async () => {
    const app = await createApp(engine);
    try {
      const login = await app.inject({ method: 'POST', url: '/omlusers/api/oauth2/v1/token', payload: { grant_type: 'password', username: 'alice', password: 'correct horse battery' } });
      const auth = { authorization: `Bearer ${(login.json() as { accessToken: string }).accessToken}` };
      const API = '/oml/api/py-scripts/v1';
      const one = await app.inject({ method: 'POST', url: `${API}/do-eval/plot_species`, headers: auth, payload: { graphicsFlag: true } });
      expect(one.statusCode, one.body).toBe(200);
      const [entry] = one.json().result as { ID: number; DATA: string; IMAGE: string }[];
      expect(entry!.ID).toBe(1);
      expect(isPng(new Uint8Array(Buffer.from(entry!.IMAGE, 'base64')))).toBe(true);
      const groups = await app.inject({ method: 'POST', url: `${API}/group-apply/per_group`, headers: auth, payload: { input: 'select * from IRIS', groupBy: 'SPECIES', graphicsFlag: true } });
      expect(groups.statusCode, groups.body).toBe(200);
      const body = groups.json().result as Record<string, { ID: number; DATA: string; IMAGE: string | null }[]>;
      expect(Object.keys(body)).toEqual(['setosa', 'versicolor', 'virginica']);
      expect(body.setosa!.map((e) => e.ID)).toEqual([1, 2]);
      expect(JSON.parse(body.setosa![0]!.DATA)).toEqual([{ n: 50 }]);
      expect(body.setosa!.every((e) => e.IMAGE !== null && isPng(new Uint8Array(Buffer.from(e.IMAGE, 'base64'))))).toBe(true);
    } finally {
      await app.close();
    }
  });
});
