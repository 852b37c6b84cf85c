// Bundles the code that runs outside the engine's thread -- the worker thread entry, the sandbox
// process entry and the SQLite context module workers load -- into dist/workers/, so each thread and
// the sandbox process loads a few files instead of ~200 modules (Arrow's ESM build alone is ~150):
// ~0.1 s less CPU per worker at start-up. The three entries share chunks, so core and Arrow are loaded
// once per thread and their classes are the same for the worker and the context module.
// Packages with native code or their own files stay external and are resolved from this package.
// dist/workers/manifest.json lists the inputs; the engine uses the bundle only while it is newer than
// all of them (see src/bundled-workers.ts), so a `tsc` rebuild without this step never runs stale code.
import { createRequire } from 'node:module';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'dist', 'workers');
const require = createRequire(import.meta.url);
const runtimeDist = dirname(require.resolve('@insitu/runtime-pyodide'));

rmSync(out, { recursive: true, force: true });
const result = await build({
  input: {
    worker: join(runtimeDist, 'worker.js'),
    'sandbox-main': join(runtimeDist, 'sandbox-main.js'),
    'sqlite-context': require.resolve('@insitu/adapters/sqlite-context'),
  },
  platform: 'node',
  external: [/^node:/, 'pyodide', 'piscina', 'better-sqlite3'],
  output: { dir: out, format: 'esm', entryFileNames: '[name].js', chunkFileNames: 'chunk-[hash].js' },
  logLevel: 'warn',
});
const inputs = new Set(result.output.flatMap((o) => (o.type === 'chunk' ? o.moduleIds : [])).filter((id) => !id.startsWith('\0')));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'manifest.json'), JSON.stringify({ inputs: [...inputs].map((id) => relative(out, id)).sort() }, null, 1) + '\n');
console.log(`bundled ${inputs.size} modules into ${relative(process.cwd(), out)}`);
