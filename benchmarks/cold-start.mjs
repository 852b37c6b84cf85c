// Cold start in a new process: engine created -> pool of 2 ready -> first doEval result.
// Prints JSON with milliseconds since the process started, and from the createEngine call
// (`fromCreate*`: what the target is measured on; importing insitu and Node's own start come before it). Optional 3rd argument: the snapshot directory
// (an empty one measures the very first start, which boots plainly and writes the snapshot).
import { performance } from 'node:perf_hooks';
const t0 = performance.now();
const { createEngine } = await import('insitu');
const imported = performance.now();
const snapshotDir = process.argv[4];
const engine = await createEngine({ database: process.argv[2], workers: 2, isolation: process.argv[3] ?? 'process', ...(snapshotDir === undefined ? {} : { snapshotDir }) });
const created = performance.now();
const r = await engine.session().doEval({ source: 'def f():\n    return 1' });
const first = performance.now();
// Both workers ready: two calls in parallel.
await Promise.all([1, 2].map(() => engine.session().indexApply(2, { source: 'def f(i):\n    return i' }, { parallel: true })));
const both = performance.now();
await engine.close();
console.log(JSON.stringify({
  processStartToImport: imported,
  engineCreated: created,
  firstResult: first,
  bothWorkers: both,
  fromCreateFirstResult: first - imported,
  fromCreateBothWorkers: both - imported,
  result: r.value,
}));
