// insitu as a new user gets it: the packages packed as they would be published, installed with plain
// npm into a project outside this repository, and the README's quick start run there in plain
// JavaScript (twice) and in TypeScript; a script that forgets close() still exits; the CLI bin runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = ['core', 'adapters', 'runtime-pyodide', 'server', 'insitu'];

/** The JavaScript block of the README's Quick start section. */
function quickStart(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 3));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  if (m === null) throw new Error('README Quick start has no ```js block');
  return m[1]!;
}

/** Run a command in `cwd`; its output (throws with the output when it fails). */
function run(cmd: string, args: readonly string[], cwd: string, timeout = 120_000): { stdout: string; stderr: string; status: number | null; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status, ms: Date.now() - t0 };
}

describe('installed with npm', () => {
  const dir = mkdtempSync(join(tmpdir(), 'insitu-install-'));
  const tarballs = join(dir, 'tarballs');
  const project = join(dir, 'project');

  beforeAll(() => {
    mkdirSync(tarballs);
    mkdirSync(project);
    for (const p of PACKAGES) execFileSync('pnpm', ['pack', '--pack-destination', tarballs], { cwd: join(ROOT, 'packages', p), stdio: 'pipe' });
    const deps = Object.fromEntries(readdirSync(tarballs).map((f) => [f.replace(/-\d+\.\d+\.\d+\.tgz$/, '').replace(/^insitu-(?!0)/, '@insitu/'), `file:${join(tarballs, f)}`]));
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'try-insitu', private: true, type: 'module', dependencies: { ...deps, typescript: '5.9.3', '@types/node': '20.19.43' } }, null, 2),
    );
    // better-sqlite3 compiles its addon in an install script (~1.5 min on 2 cores, no prebuilt binary
    // reachable offline); the repository's build of the same version for this Node is copied instead.
    const install = run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], project, 300_000);
    if (install.status !== 0) throw new Error(`npm install failed:\n${install.stderr}`);
    const addon = join(dirname(createRequire(join(ROOT, 'packages', 'adapters', 'package.json')).resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
    const target = join(project, 'node_modules', 'better-sqlite3', 'build', 'Release');
    mkdirSync(target, { recursive: true });
    copyFileSync(addon, join(target, 'better_sqlite3.node'));
  }, 400_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('packs publishable manifests: versions, exports with types, no workspace: ranges, the worker bundle and the Python files', () => {
    for (const p of PACKAGES) {
      const pkgDir = join(project, 'node_modules', p === 'insitu' ? 'insitu' : `@insitu/${p}`);
      const manifest = readFileSync(join(pkgDir, 'package.json'), 'utf8');
      expect(manifest, p).not.toContain('workspace:');
      const m = JSON.parse(manifest) as { version: string; exports: Record<string, { types: string; default: string }> };
      expect(m.version).toMatch(/^\d+\.\d+\.\d+$/);
      for (const e of Object.values(m.exports)) {
        expect(existsSync(join(pkgDir, e.types)), `${p} ${e.types}`).toBe(true);
        expect(existsSync(join(pkgDir, e.default)), `${p} ${e.default}`).toBe(true);
      }
    }
    expect(existsSync(join(project, 'node_modules/@insitu/runtime-pyodide/python/insitu/__init__.py'))).toBe(true);
    expect(existsSync(join(project, 'node_modules/insitu/dist/workers/worker.js'))).toBe(true);
    expect(existsSync(join(project, 'node_modules/.bin/insitu'))).toBe(true);
  });

  it("runs the README's quick start in plain JavaScript, twice", () => {
    writeFileSync(join(project, 'quickstart.mjs'), quickStart());
    for (let i = 0; i < 2; i++) {
      const r = run(process.execPath, ['quickstart.mjs'], project);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('{"SPECIES": "setosa", "n": 2}');
      expect(r.stdout).toContain('{"SPECIES": "virginica", "n": 1}');
    }
  });

  it("compiles the README's quick start as strict TypeScript (tsc --init's skipLibCheck: pyodide's own .d.ts needs DOM types) against the installed types, and runs it", () => {
    writeFileSync(join(project, 'quickstart.ts'), quickStart());
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', types: ['node'], skipLibCheck: true }, files: ['quickstart.ts'] }),
    );
    const tsc = run(process.execPath, [join(project, 'node_modules/typescript/bin/tsc'), '-p', '.'], project);
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    const r = run(process.execPath, ['out/quickstart.js'], project);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('{"SPECIES": "versicolor", "n": 1}');
  });

  it('a script that forgets engine.close() still exits when its work is done', () => {
    writeFileSync(
      join(project, 'forgets-close.mjs'),
      "import { createEngine } from 'insitu';\nconst engine = await createEngine({ database: 'app.db', workers: 2 });\nconst r = await engine.session({ user: 'alice' }).doEval({ source: 'def f():\\n    return 41 + 1' });\nconsole.log(r.value);\n",
    );
    const r = run(process.execPath, ['forgets-close.mjs'], project, 60_000);
    expect(r.status, `exit ${r.status} after ${r.ms} ms: ${r.stderr}`).toBe(0);
    expect(r.stdout).toBe('42\n');
  });

  it('insitu/testing loads a UDF file from the installed package', () => {
    writeFileSync(join(project, 'double.py'), 'def double(df):\n    print("doubling")\n    return {"y": [x * 2 for x in df["x"]]}\n');
    writeFileSync(
      join(project, 'helper.mjs'),
      "import { loadUdf } from 'insitu/testing';\nconst udf = await loadUdf('double.py');\nconst r = await udf.table([{ x: 1 }, { x: 2 }]);\nconsole.log(JSON.stringify(r.value.toArray().map((row) => Number(row.y))), JSON.stringify(r.stdout));\n",
    );
    const r = run(process.execPath, ['helper.mjs'], project, 60_000);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('[2,4] "doubling\\n"\n');
  });

  it('the insitu bin runs a .py file over a table', () => {
    writeFileSync(join(project, 'per_species.py'), 'def per_species(df):\n    return {"n": [len(df)]}\n');
    const r = run(join(project, 'node_modules/.bin/insitu'), ['run', 'per_species.py', '--database', 'app.db', '--user', 'alice', '--table', 'IRIS', '--by', 'SPECIES', '--format', 'json'], project);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      { SPECIES: 'setosa', n: 2 },
      { SPECIES: 'versicolor', n: 1 },
      { SPECIES: 'virginica', n: 1 },
    ]);
  });
});
