// Cold start in a new process: engine created -> first doEval result -> both workers of the pool of 2
// answered. Prints JSON with milliseconds since the process started, and from the createEngine call
// (`fromCreate*`: what the target is measured on; importing insitu and Node's own start come before it).
// Arguments: database, mode (see sandbox-modes.mjs), snapshot directory (an empty one measures the very
// first start, which makes the snapshot before the workers start).
import { performance } from 'node:perf_hooks';
import { MODES } from './sandbox-modes.mjs';
import { INTERPRETER_TOKEN } from './workloads.mjs';

const t0 = performance.now();
const { createEngine } = await import('insitu');
const imported = performance.now();
const mode = process.argv[3] ?? 'bubblewrap';
const snapshotDir = process.argv[4];
const engine = await createEngine({ database: process.argv[2], workers: 2, ...MODES[mode].options, ...(snapshotDir === undefined ? {} : { snapshotDir }) });
const created = performance.now();
const me = engine.session({ user: 'cold' });
const r = await me.doEval({ source: INTERPRETER_TOKEN });
const first = performance.now();
// Both workers ready: the first call's worker is busy with one of these, so the other goes to the
// second worker; each answers with its interpreter's token, which proves two interpreters answered.
const tokens = new Set([r.value]);
for (let i = 0; tokens.size < 2 && i < 20; i++) {
  const res = await me.indexApply(2, { source: INTERPRETER_TOKEN.replace('def f():', 'def f(i):') }, { parallel: true });
  for (const p of res.partitions) tokens.add(p.value);
}
const both = performance.now();
await engine.close();
if (tokens.size < 2) throw new Error(`only ${tokens.size} worker answered`);
console.log(JSON.stringify({
  mode,
  processStart: t0,
  processStartToImport: imported,
  engineCreated: created,
  firstResult: first,
  bothWorkers: both,
  fromCreateEngine: created - imported,
  fromCreateFirstResult: first - imported,
  fromCreateBothWorkers: both - imported,
}));
