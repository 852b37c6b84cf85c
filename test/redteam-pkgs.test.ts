import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEngine, PyodidePackageIndex, type Engine } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';
import { PNG_SOURCE, wheelOf, writeMirror, zipOf } from './package-mirror.js';

/**
 * Red team of figures, packages and named environments: attacks from the README and the source, each
 * a behaviour a user (or an attacker among the users) would notice. One engine, a mirror written here.
 */

const MAX_RESULT = 1 << 20;

/** A valid PNG of about `n` bytes: the tiny one with a private chunk of zeros before its IEND. */
const BIG_PNG = `${PNG_SOURCE}
def big_png(n):
    p = tiny_png()
    return p[:-12] + _chunk(b"paDd", bytes(n)) + p[-12:]
`;

/** A wheel of one deflated entry of `size` zero bytes (a few hundred KiB that unpack to `size`). */
function zipBombWheel(size: number): Uint8Array {
  return zipSync({ 'bomb/data.bin': [new Uint8Array(size), { level: 9 }] });
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const UPPER_MODULES = { 'upper_pkg/__init__.py': 'VALUE = "upper"\n' };

let engine: Engine;
let db: ReturnType<typeof tempDatabase>;

beforeAll(async () => {
  db = tempDatabase();
  const mirror = join(db.dir, 'mirror');
  writeMirror(mirror, {
    // A lock file may spell the hash in capitals (hex is case-insensitive).
    'upper-pkg': { modules: UPPER_MODULES, sha256: sha256(wheelOf('upper-pkg', UPPER_MODULES).bytes).toUpperCase() },
    // Importing it patches the standard library and insitu for whoever runs in the same interpreter.
    'patcher': {
      modules: {
        'patcher/__init__.py': 'import textwrap, insitu\ntextwrap.dedent = lambda *a, **k: "patched"\ninsitu.image = lambda *a, **k: None\n',
      },
    },
    // Entries that point outside site-packages, among them into insitu's own package directory.
    'escaper': {
      modules: {},
      raw: zipOf({
        'escaper/__init__.py': 'OK = 1\n',
        '../../../../home/pyodide/insitu-site/insitu/planted.py': 'PLANTED = 1\n',
        '/home/pyodide/insitu-site/insitu/planted_abs.py': 'PLANTED = 1\n',
        'escaper-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\nName: escaper\nVersion: 1.0\n',
        'escaper-1.0.dist-info/WHEEL': 'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
        'escaper-1.0.dist-info/RECORD': '',
      }),
    },
    // 600 MiB of zeros in a few hundred KiB: more than an interpreter's heap (maxMemoryMb 512) holds.
    'bomb': { modules: {}, raw: zipBombWheel(600 * 1024 * 1024) },
    'plain': { modules: { 'plain/__init__.py': 'VALUE = "plain"\n' } },
  });
  // Its archive is outside the mirror: the lock file's name climbs out of the directory.
  const lockPath = join(mirror, 'pyodide-lock.json');
  const lock = JSON.parse((await import('node:fs')).readFileSync(lockPath, 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const outside = wheelOf('climber', { 'climber/__init__.py': 'X = 1\n' });
  writeFileSync(join(db.dir, outside.fileName), outside.bytes);
  lock.packages['climber'] = { ...lock.packages['plain'], name: 'climber', file_name: `../${outside.fileName}`, sha256: sha256(outside.bytes), depends: [] };
  writeFileSync(lockPath, JSON.stringify(lock));
  engine = await createEngine({ database: db.path, workers: 2, packageIndex: mirror, maxResultBytes: MAX_RESULT, maxMemoryMb: 512 });
}, 180_000);

afterAll(async () => {
  await engine?.close();
  db?.cleanup();
});

const alive = async (user = 'alice'): Promise<void> => {
  const r = await engine.session({ user }).doEval({ source: 'def f():\n    return 41 + 1\n', name: 'f' });
  expect(r.value).toBe(42);
};

describe('figures', () => {
  it('images over maxResultBytes are refused in the worker even when the UDF switches off the check in Python', async () => {
    const me = engine.session({ user: 'alice' });
    const src = `${BIG_PNG}
import insitu, insitu._runner as runner
def f():
    runner._check_images = lambda *a: None
    big = big_png(${MAX_RESULT / 2 + 100})
    insitu.image(big, "one")
    insitu.image(big_png(${MAX_RESULT / 2 + 200}), "two")
    return 1
`;
    const e = await rejectsWith(me.doEval({ source: src, name: 'f' }), 'RESULT_TOO_LARGE');
    expect(e.message).toMatch(/image/i);
    await alive();
  });

  it('the same check holds per group of a groupApply', async () => {
    const me = engine.session({ user: 'alice' });
    const t = await me.create('G', [{ K: 'a', V: 1 }, { K: 'b', V: 2 }], { overwrite: true });
    const src = `${BIG_PNG}
import insitu, insitu._runner as runner
def f(df):
    runner._check_images = lambda *a: None
    big = big_png(${MAX_RESULT / 2 + 100})
    insitu.image(big); insitu.image(big)
    return 1
`;
    await rejectsWith(me.groupApply(t, ['K'], { source: src, name: 'f' }), 'RESULT_TOO_LARGE');
    await alive();
  });

  it("images' titles count against maxResultBytes (Python's check and the worker's)", async () => {
    const me = engine.session({ user: 'alice' });
    const title = `"t" * ${MAX_RESULT + 10}`;
    const plain = `${PNG_SOURCE}\nimport insitu\ndef f():\n    insitu.image(tiny_png(), ${title})\n    return 1\n`;
    await rejectsWith(me.doEval({ source: plain, name: 'f' }), 'RESULT_TOO_LARGE');
    const bypass = `${PNG_SOURCE}\nimport insitu, insitu._runner as runner\ndef f():\n    runner._check_images = lambda *a: None\n    t = ${title}\n    for _ in range(3):\n        insitu.image(tiny_png(), t)\n    return 1\n`;
    await rejectsWith(me.doEval({ source: bypass, name: 'f' }), 'RESULT_TOO_LARGE');
    await alive();
  });

  it('bytes with the PNG signature in front of something else are BAD_RESULT, in insitu.image() and in the worker', async () => {
    const me = engine.session({ user: 'alice' });
    const html = `import insitu\ndef f():\n    insitu.image(b"\\x89PNG\\r\\n\\x1a\\n<html><script>alert(1)</script></html>")\n    return 1\n`;
    const e = await rejectsWith(me.doEval({ source: html, name: 'f' }), 'BAD_RESULT');
    expect(e.message).toMatch(/PNG file/);
    // Behind insitu.image()'s back: a valid image with a payload appended, straight into the collector.
    const appended = `${PNG_SOURCE}\nimport insitu._images as im\ndef f():\n    im._current.append({"title": None, "png": tiny_png() + b"<script>alert(1)</script>"})\n    im._png_problem = lambda p: None\n    return 1\n`;
    const e2 = await rejectsWith(me.doEval({ source: appended, name: 'f' }), 'BAD_RESULT');
    expect(e2.message).toMatch(/follow the IEND chunk/);
    await alive();
  });

  it('the same PNG added twice comes back twice', async () => {
    const me = engine.session({ user: 'alice' });
    const r = await me.doEval({ source: `${PNG_SOURCE}\nimport insitu\ndef f():\n    p = tiny_png()\n    insitu.image(p, 'a')\n    insitu.image(p, 'b')\n    return 1\n`, name: 'f' });
    expect(r.images.map((i) => i.title)).toEqual(['a', 'b']);
  });
});

describe('packages', () => {
  it('a lock file that spells a SHA-256 in capitals installs the package', async () => {
    const r = await engine.session({ user: 'alice' }).doEval({ source: 'import upper_pkg\ndef f():\n    return upper_pkg.VALUE\n', name: 'f' }, { packages: ['upper-pkg'] });
    expect(r.value).toBe('upper');
  });

  it("a lock file name that climbs out of the mirror is PACKAGE_MISSING and nothing runs", async () => {
    const me = engine.session({ user: 'alice' });
    await rejectsWith(me.doEval({ source: 'def f():\n    return 1\n', name: 'f' }, { packages: ['climber'] }), 'PACKAGE_MISSING');
  });

  it("a wheel's ../ and absolute entries land nowhere outside site-packages (insitu's own modules untouched)", async () => {
    const me = engine.session({ user: 'alice' });
    const r = await me.doEval(
      {
        source: `
import importlib.util, os
def f():
    import escaper
    return [escaper.OK, importlib.util.find_spec("insitu.planted") is None, importlib.util.find_spec("insitu.planted_abs") is None,
            os.path.exists("/home/pyodide/insitu-site/insitu/planted.py")]
`,
        name: 'f',
      },
      { packages: ['escaper'] },
    );
    expect(r.value).toEqual([1, true, true, false]);
  });

  it('a zip bomb fails its own call with a typed error; the engine goes on serving', async () => {
    const me = engine.session({ user: 'bomber' });
    const e = await me.doEval({ source: 'def f():\n    return 1\n', name: 'f' }, { packages: ['bomb'] }).then(
      () => null,
      (err: unknown) => err as { code?: string },
    );
    expect(e?.code === 'PACKAGE_MISSING' || e?.code === 'RUNTIME_ERROR', String(e?.code)).toBe(true);
    await alive('bomber');
    await alive('alice');
  }, 120_000);

  it("a package's patches of the standard library and insitu stay in its environment", async () => {
    const me = engine.session({ user: 'carol' });
    await engine.environments.create('patched', { packages: ['patcher'], overwrite: true });
    const src = `${PNG_SOURCE}
import textwrap, insitu
def f():
    try:
        import patcher
    except ImportError:
        pass
    insitu.image(tiny_png())
    return textwrap.dedent(" x")
`;
    const inA = await me.doEval({ source: src, name: 'f' }, { env: 'patched' });
    expect(inA.value).toBe('patched');
    expect(inA.images).toHaveLength(0);
    const inDefault = await me.doEval({ source: src.replace('import patcher', 'pass'), name: 'f' });
    expect(inDefault.value).toBe('x');
    expect(inDefault.images).toHaveLength(1);
  });

  it('a UDF cannot install packages itself', async () => {
    const me = engine.session({ user: 'alice' });
    const r = await me.doEval(
      {
        source: `
def f():
    out = []
    for mod in ("micropip", "pyodide_js", "js"):
        try:
            __import__(mod)
            out.append(mod)
        except ImportError:
            pass
    return out
`,
        name: 'f',
      },
    );
    expect(r.value).toEqual([]);
  });
});

describe('an index over http', () => {
  let server: Server;
  let base: string;
  const good = wheelOf('good', { 'good/__init__.py': 'X = 1\n' });
  const other = wheelOf('good', { 'good/__init__.py': 'import os\nX = 2\n' });
  beforeAll(async () => {
    const entry = (name: string, file: string) => ({ name, version: '1.0', file_name: file, sha256: sha256(good.bytes), install_dir: 'site', depends: [] });
    const lock = { info: {}, packages: { good: entry('good', 'good.whl'), swapped: entry('swapped', 'swapped.whl'), loop: entry('loop', 'loop.whl') } };
    server = createServer((req, res) => {
      const to = (where: string) => res.writeHead(302, { location: where }).end();
      if (req.url === '/pyodide-lock.json') res.end(JSON.stringify(lock));
      else if (req.url === '/good.whl') to('/store/good.whl');
      else if (req.url === '/store/good.whl') res.end(good.bytes);
      else if (req.url === '/swapped.whl') to('/store/other.whl');
      else if (req.url === '/store/other.whl') res.end(other.bytes);
      else if (req.url === '/loop.whl') to('/loop.whl');
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('a redirect reaches the bytes, but only bytes with the recorded hash are taken', async () => {
    // A fresh index for each: archives are kept by hash, so once 'good' is verified, any entry recording
    // its hash gets those verified bytes without a fetch.
    const fresh = () => new PyodidePackageIndex({ packageIndex: base, fetchTimeoutMs: 5000 });
    await rejectsWith(fresh().resolve(['swapped']), 'PACKAGE_INTEGRITY');
    await rejectsWith(fresh().resolve(['loop']), 'PACKAGE_MISSING');
    const index = fresh();
    const set = await index.resolve(['good']);
    expect(set.packages.map((p) => p.sha256)).toEqual([sha256(good.bytes)]);
    expect(Buffer.from(set.packages[0]!.bytes).equals(Buffer.from(good.bytes))).toBe(true);
    expect(Buffer.from((await index.resolve(['swapped'])).packages[0]!.bytes).equals(Buffer.from(good.bytes))).toBe(true);
  });
});

describe('environments', () => {
  it('creating one with an unknown package creates nothing', async () => {
    await rejectsWith(engine.environments.create('bad', { packages: ['plain', 'no-such-package'] }), 'PACKAGE_MISSING');
    expect((await engine.environments.list()).map((e) => e.name)).not.toContain('bad');
  });

  it('two creates of one name at once: one wins, the other is ALREADY_EXISTS (no silent replace)', async () => {
    const both = await Promise.allSettled([
      engine.environments.create('twice', { packages: ['plain'], description: 'first' }),
      engine.environments.create('twice', { packages: ['upper-pkg'], description: 'second' }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const failed = both.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((failed.reason as { code?: string }).code).toBe('ALREADY_EXISTS');
    const won = (both.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ description: string | null }>).value;
    expect((await engine.environments.list()).find((e) => e.name === 'twice')?.description).toBe(won.description);
  });

  it('names with path characters are BAD_INPUT', async () => {
    for (const name of ['../x', 'a/b', '', ' x', 'x\u0000']) {
      await rejectsWith(engine.environments.create(name, { packages: ['plain'] }), 'BAD_INPUT');
      await rejectsWith(engine.session({ user: 'alice' }).doEval({ source: 'def f():\n    return 1\n', name: 'f' }, { env: name }), 'BAD_INPUT');
    }
  });

  it('dropping an environment while a call runs in it lets the call finish; the next call is BAD_INPUT', async () => {
    await engine.environments.create('short', { packages: ['plain'], overwrite: true });
    const me = engine.session({ user: 'dave' });
    const running = me.doEval({ source: 'import time, plain\ndef f():\n    time.sleep(1)\n    return plain.VALUE\n', name: 'f' }, { env: 'short' });
    await new Promise((r) => setTimeout(r, 300));
    expect(await engine.environments.drop('short')).toBe(true);
    expect((await running).value).toBe('plain');
    await rejectsWith(me.doEval({ source: 'def f():\n    return 1\n', name: 'f' }, { env: 'short' }), 'BAD_INPUT');
  });
});
