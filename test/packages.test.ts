import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createEngine, PyodidePackageIndex, type Engine, type Session } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';
import { wheelOf, writeMirror } from './package-mirror.js';

// Offline: a local mirror of a package index (pyodide-lock.json + pure-Python wheels) written here,
// and two wheels given as files. The engine runs with the default isolation (the sandbox process).
const db = tempDatabase();
const mirror = join(db.dir, 'mirror');
const localWheel = wheelOf('localwheel', { 'localwheel.py': 'WHO = "local"\n' });
const lateWheel = wheelOf('latewheel', { 'latewheel.py': 'WHO = "late"\n' });
const localPath = join(db.dir, localWheel.fileName);
const latePath = join(db.dir, lateWheel.fileName);

let engine: Engine;
let alice: Session;
let bob: Session;

/** Which of the mirror's modules an interpreter can find. */
const PROBE = `
import importlib.util

def probe(i=0):
    return {m: importlib.util.find_spec(m) is not None for m in ["insitu_base", "insitu_alpha", "insitu_beta", "insitu_gamma"]}
`;

const NONE_LOADED = { insitu_base: false, insitu_alpha: false, insitu_beta: false, insitu_gamma: false };

beforeAll(async () => {
  writeMirror(mirror, {
    'insitu-base': { modules: { 'insitu_base/__init__.py': 'CALLS = [0]\n\ndef greet(x):\n    return f"hello {x}"\n' } },
    'insitu-alpha': { modules: { 'insitu_alpha/__init__.py': 'from insitu_base import greet\nNAME = "alpha"\n' }, depends: ['insitu-base'] },
    'insitu-beta': { modules: { 'insitu_beta/__init__.py': 'NAME = "beta"\n' } },
    'insitu-gamma': { modules: { 'insitu_gamma/__init__.py': 'NAME = "gamma"\n' } },
    'insitu-tampered': { modules: { 'insitu_tampered/__init__.py': 'RAN = True\n' }, sha256: '0'.repeat(64) },
    'insitu-orphan': { modules: { 'insitu_orphan/__init__.py': '' }, depends: ['insitu-ghost'] },
    'insitu-notzip': { modules: {}, raw: new TextEncoder().encode('this is not a zip archive') },
  });
  writeFileSync(localPath, localWheel.bytes);
  writeFileSync(latePath, lateWheel.bytes);
  engine = await createEngine({
    database: db.path,
    workers: 2,
    users: 'registered',
    packageIndex: mirror,
    wheels: [localPath, latePath],
    packages: ['insitu-gamma'],
  });
  await engine.users.create('alice', { password: 'correct horse battery' });
  await engine.users.create('bob', { password: 'battery staple horse' });
  alice = engine.session({ user: 'alice' });
  bob = engine.session({ user: 'bob' });
  await alice.scripts.create('probe', PROBE, { global: true });
  await engine.environments.create('envA', { packages: ['insitu-alpha'], description: 'alpha and its base' });
  await engine.environments.create('envB', { packages: ['insitu-beta'] });
});

afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

describe('packages of a call', () => {
  it("load with their dependencies from the lock file's depends, and import in the UDF", async () => {
    const r = await alice.doEval(
      { source: 'import insitu_alpha\ndef f(who):\n    return [insitu_alpha.greet(who), insitu_alpha.NAME]' },
      { packages: ['insitu_alpha'], args: { who: 'x' } },
    );
    expect(r.value).toEqual(['hello x', 'alpha']);
  });

  it('come from local pure-Python wheel files (wheels)', async () => {
    const r = await alice.doEval({ source: 'import localwheel\ndef f():\n    return localwheel.WHO' }, { packages: ['localwheel'] });
    expect(r.value).toBe('local');
  });

  it('preloaded by createEngine({ packages }) are importable in every default call, and nothing else is', async () => {
    const r = await alice.doEval('probe');
    expect(r.value).toEqual({ ...NONE_LOADED, insitu_gamma: true });
  });
});

describe('named environments', () => {
  it('list their packages, dependencies first; drop removes one', async () => {
    await engine.environments.create('envC', { packages: ['insitu-beta'] });
    const list = await engine.environments.list();
    expect(list.map((e) => e.name)).toEqual(['envA', 'envB', 'envC']);
    const a = list.find((e) => e.name === 'envA')!;
    expect(a.requested).toEqual(['insitu-alpha']);
    expect(a.packages.map((p) => p.name)).toEqual(['insitu-base', 'insitu-alpha']);
    expect(a.packages[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(a.description).toBe('alpha and its base');
    expect(await engine.environments.drop('envC')).toBe(true);
    expect(await engine.environments.drop('envC')).toBe(false);
    await rejectsWith(alice.doEval('probe', { env: 'envC' }), 'BAD_INPUT');
    await rejectsWith(engine.environments.create('envA', { packages: ['insitu-beta'] }), 'ALREADY_EXISTS');
    await rejectsWith(engine.environments.create('default', { packages: ['insitu-beta'] }), 'BAD_INPUT');
    await rejectsWith(engine.environments.create('bad name', { packages: ['insitu-beta'] }), 'BAD_INPUT');
    await rejectsWith(engine.environments.create('empty', { packages: [] }), 'BAD_INPUT');
  });

  it("run calls with exactly their packages: env A's are not importable in env B or the default, whichever ran before", async () => {
    const A = { ...NONE_LOADED, insitu_base: true, insitu_alpha: true };
    const B = { ...NONE_LOADED, insitu_beta: true };
    const D = { ...NONE_LOADED, insitu_gamma: true };
    // One user at a time, so the same interpreters could serve one environment after another (a user
    // switch alone would replace them by clean ones).
    const plan = [
      [alice, [['envA', A], ['envB', B], [undefined, D], ['envA', A], ['default', D], ['envB', B]]],
      [bob, [['envA', A], [undefined, D]]],
    ] as const;
    for (const [s, steps] of plan) {
      for (const [i, [env, want]] of steps.entries()) {
        const r = await s.indexApply(4, 'probe', { parallel: true, ...(env === undefined ? {} : { env }) });
        expect(r.value, `${s.user} in ${env ?? 'the default'} (step ${i})`).toEqual([want, want, want, want]);
      }
    }
    // The call's own packages add to its environment's.
    const both = await alice.doEval({ name: 'probe', owner: 'alice' }, { env: 'envB', packages: ['insitu-alpha'] });
    expect(both.value).toEqual({ ...NONE_LOADED, insitu_base: true, insitu_alpha: true, insitu_beta: true });
  });

  it('specialise workers once and reuse them: the package stays imported in its interpreters from call to call', async () => {
    const counts: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await alice.doEval({ source: 'import insitu_base\ndef f():\n    insitu_base.CALLS[0] += 1\n    return insitu_base.CALLS[0]' }, { env: 'envA' });
      counts.push(r.value as number);
    }
    // Each interpreter counts the calls it served with the module loaded: six calls over at most two
    // workers, so one counted at least three (a fresh interpreter, or a fresh install, would count 1).
    expect(Math.max(...counts)).toBeGreaterThanOrEqual(3);
  });

  it("a module planted in env A's site-packages is not importable in env B, the default, or by another user in env A", async () => {
    const plant = `
import importlib, importlib.util, site, os
def plant():
    path = os.path.join(site.getsitepackages()[0], "planted_mod.py")
    with open(path, "w") as f:
        f.write("PLANTED = True\\n")
    importlib.invalidate_caches()
    return importlib.util.find_spec("planted_mod") is not None
`;
    const find = 'import importlib.util\ndef f(i=0):\n    return importlib.util.find_spec("planted_mod") is not None';
    expect((await alice.doEval({ source: plant }, { env: 'envA' })).value).toBe(true);
    expect((await alice.indexApply(4, { source: find }, { parallel: true, env: 'envB' })).value).toEqual([false, false, false, false]);
    expect((await alice.indexApply(4, { source: find }, { parallel: true })).value).toEqual([false, false, false, false]);
    // Nor by another user in the same environment: a package set does not share interpreters across users.
    expect((await bob.indexApply(4, { source: find }, { parallel: true, env: 'envA' })).value).toEqual([false, false, false, false]);
  });

  it('still run after more package sets than the sandbox process keeps (16): a forgotten set is sent again', async () => {
    const names = ['insitu-base', 'insitu-beta', 'insitu-gamma', 'localwheel', 'insitu-alpha'];
    const subsets = Array.from({ length: 17 }, (_, i) => names.filter((_, b) => ((i + 1) >> b) & 1));
    for (const packages of [...subsets, subsets[0]!, subsets[1]!]) {
      const r = await alice.doEval('probe', { packages, env: 'envB' });
      const has = (m: string) => packages.includes(m) || (m === 'insitu-base' && packages.includes('insitu-alpha'));
      expect(r.value, packages.join(',')).toEqual({
        insitu_base: has('insitu-base'),
        insitu_alpha: has('insitu-alpha'),
        insitu_beta: true,
        insitu_gamma: has('insitu-gamma'),
      });
    }
  });

  it('run jobs in their environment; a job naming an unknown one is refused at submit', async () => {
    const { id } = await alice.jobs.submit({ kind: 'doEval', func: 'probe', options: { env: 'envB' } });
    await alice.jobs.wait(id, { timeoutMs: 60_000 });
    expect((await alice.jobs.result(id)).value).toEqual({ ...NONE_LOADED, insitu_beta: true });
    await rejectsWith(alice.jobs.submit({ kind: 'doEval', func: 'probe', options: { env: 'nope' } }), 'BAD_INPUT');
    expect((await alice.jobs.list()).length).toBe(1);
  });
});

describe('bad packages are refused before any partition runs', () => {
  const SIDE_EFFECT = 'import insitu\ndef f(i):\n    insitu.ds.save({"i": i}, "ran_" + str(i), overwrite=True)\n    return i';

  it('an unknown package, or one whose dependency is unknown, is PACKAGE_MISSING; nothing ran', async () => {
    const progress: number[] = [];
    const e = await rejectsWith(alice.indexApply(3, { source: SIDE_EFFECT }, { packages: ['no-such-package'], onProgress: (p) => progress.push(p.partitionsDone) }), 'PACKAGE_MISSING');
    expect(e.message).toMatch(/no-such-package is not in the package index/);
    const orphan = await rejectsWith(alice.indexApply(3, { source: SIDE_EFFECT }, { packages: ['insitu-orphan'] }), 'PACKAGE_MISSING');
    expect(orphan.message).toMatch(/insitu-ghost \(a dependency of insitu-orphan\)/);
    expect(progress.every((n) => n === 0)).toBe(true);
    expect(await alice.datastores.list()).toEqual([]);
    await rejectsWith(engine.environments.create('orphans', { packages: ['insitu-orphan'] }), 'PACKAGE_MISSING');
    expect((await engine.environments.list()).map((x) => x.name)).not.toContain('orphans');
  });

  it('an archive whose SHA-256 does not match the lock file is PACKAGE_INTEGRITY; nothing ran and nothing was created', async () => {
    const e = await rejectsWith(alice.indexApply(3, { source: SIDE_EFFECT }, { packages: ['insitu-tampered'] }), 'PACKAGE_INTEGRITY');
    expect(e.message).toMatch(/insitu-tampered .* has SHA-256 [0-9a-f]{64}, but its index records 0{64}/);
    await rejectsWith(engine.environments.create('tampered', { packages: ['insitu-tampered'] }), 'PACKAGE_INTEGRITY');
    expect((await engine.environments.list()).map((x) => x.name)).not.toContain('tampered');
    expect(await alice.datastores.list()).toEqual([]);
  });

  it('an archive that matches its hash but cannot be unpacked is PACKAGE_MISSING; the worker is replaced and later calls run', async () => {
    const e = await rejectsWith(alice.indexApply(2, { source: SIDE_EFFECT }, { packages: ['insitu-notzip'] }), 'PACKAGE_MISSING');
    expect(e.message).toMatch(/insitu-notzip .* could not be installed/);
    expect(await alice.datastores.list()).toEqual([]);
    expect((await alice.indexApply(2, 'probe', { parallel: true, env: 'envB' })).value).toEqual([
      { ...NONE_LOADED, insitu_beta: true },
      { ...NONE_LOADED, insitu_beta: true },
    ]);
  });

  it('a local wheel changed after the engine read it is PACKAGE_INTEGRITY', async () => {
    writeFileSync(latePath, wheelOf('latewheel', { 'latewheel.py': 'WHO = "swapped"\nimport os\n' }).bytes);
    await rejectsWith(alice.doEval({ source: 'import latewheel\ndef f():\n    return latewheel.WHO' }, { packages: ['latewheel'] }), 'PACKAGE_INTEGRITY');
  });

  it('malformed package and environment names are BAD_INPUT; an unknown environment is BAD_INPUT naming it', async () => {
    await rejectsWith(alice.doEval('probe', { packages: ['../etc/passwd'] }), 'BAD_INPUT');
    await rejectsWith(alice.doEval('probe', { packages: 'insitu-beta' as never }), 'BAD_INPUT');
    await rejectsWith(alice.doEval('probe', { env: 'a b' }), 'BAD_INPUT');
    const e = await rejectsWith(alice.doEval('probe', { env: 'nope' }), 'BAD_INPUT');
    expect(e.message).toMatch(/environment nope does not exist \(environments: envA, envB\)/);
  });

  it("inputType 'pandas' without pandas is PACKAGE_MISSING, and so is pandas when the index has no such package", async () => {
    await alice.create('T', [{ x: 1 }, { x: 2 }], { overwrite: true });
    const e = await rejectsWith(alice.tableApply(alice.table('T'), { source: 'def f(df):\n    return len(df)' }, { inputType: 'pandas' }), 'PACKAGE_MISSING');
    expect(e.message).toMatch(/pandas/);
    await rejectsWith(alice.tableApply(alice.table('T'), { source: 'def f(df):\n    return len(df)' }, { inputType: 'pandas', packages: ['pandas'] }), 'PACKAGE_MISSING');
  });
});

describe('package index', () => {
  it("by default reads the installed Pyodide's lock file and fetches from its CDN for that exact version", async () => {
    const cdn = PyodidePackageIndex.defaultCdn();
    expect(cdn).toMatch(/^https:\/\/cdn\.jsdelivr\.net\/pyodide\/v\d+\.\d+\.\d+\/full\/$/);
    const index = new PyodidePackageIndex();
    await rejectsWith(index.resolve(['no-such-package-anywhere']), 'PACKAGE_MISSING');
    // pandas is in the lock file with its dependencies: online they are fetched and verified; offline
    // (as on the build machine) the fetch fails and says where it tried.
    try {
      const set = await index.resolve(['pandas']);
      expect(set.packages.map((p) => p.name)).toEqual(expect.arrayContaining(['numpy', 'pandas']));
      expect(set.packages.at(-1)!.name).toBe('pandas');
    } catch (e) {
      expect((e as { code?: string }).code).toBe('PACKAGE_MISSING');
      expect((e as Error).message).toContain(cdn);
    }
  });

  it('refuses wheels that are not pure Python, and missing wheel files (BAD_INPUT)', () => {
    const native = join(db.dir, 'native-1.0-cp314-cp314-pyemscripten_2026_0_wasm32.whl');
    writeFileSync(native, wheelOf('native', { 'native.py': '' }).bytes);
    expect(() => new PyodidePackageIndex({ wheels: [native] })).toThrow(/not a pure-Python wheel/);
    expect(() => new PyodidePackageIndex({ wheels: [join(db.dir, 'missing-1.0-py3-none-any.whl')] })).toThrow(/cannot be read/);
  });

  it('a package index directory without a lock file is PACKAGE_MISSING saying so', async () => {
    await rejectsWith(new PyodidePackageIndex({ packageIndex: db.dir }).resolve(['x']), 'PACKAGE_MISSING');
  });
});

describe('REST envName', () => {
  it('runs the call in the named environment; an unknown one is 400 BAD_INPUT; /envs lists them', async () => {
    const app = await createApp(engine);
    try {
      const login = await app.inject({ method: 'POST', url: '/omlusers/api/oauth2/v1/token', payload: { grant_type: 'password', username: 'alice', password: 'correct horse battery' } });
      const auth = { authorization: `Bearer ${(login.json() as { accessToken: string }).accessToken}` };
      const API = '/oml/api/py-scripts/v1';
      const inA = await app.inject({ method: 'POST', url: `${API}/do-eval/probe`, headers: auth, payload: { envName: 'envA' } });
      expect(inA.statusCode, inA.body).toBe(200);
      expect(inA.json().result).toEqual({ ...NONE_LOADED, insitu_base: true, insitu_alpha: true });
      const dflt = await app.inject({ method: 'POST', url: `${API}/do-eval/probe`, headers: auth, payload: { envName: 'default' } });
      expect(dflt.json().result).toEqual({ ...NONE_LOADED, insitu_gamma: true });
      const unknown = await app.inject({ method: 'POST', url: `${API}/do-eval/probe`, headers: auth, payload: { envName: 'tf-gpu' } });
      expect(unknown.statusCode).toBe(400);
      expect(unknown.json()).toMatchObject({ code: 'BAD_INPUT' });
      expect(unknown.json().errorMessage).toMatch(/tf-gpu/);
      const envs = await app.inject({ method: 'GET', url: `${API}/envs`, headers: auth });
      expect(envs.json().result.map((e: { name: string }) => e.name)).toEqual(['default', 'envA', 'envB']);
    } finally {
      await app.close();
    }
  });
});
