// Warm doEval latency (p50/p99) of a trivial UDF; used while tuning the per-call path.
import { createEngine } from 'insitu';
const engine = await createEngine({ database: ':memory:', workers: 2 });
const me = engine.session();
for (let round = 0; round < 3; round++) {
  const times = [];
  for (let i = 0; i < 2000; i++) {
    const t = performance.now();
    await me.doEval({ source: 'def f():\n    return 1' });
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(`p50 ${times[1000].toFixed(3)} ms, p99 ${times[1980].toFixed(3)} ms`);
}
await engine.close();
