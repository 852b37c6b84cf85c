import { createEngine } from 'insitu';
import { FIT } from './workloads.mjs';
const engine = await createEngine({ database: '/tmp/g10k.db', workers: 2, isolation: process.argv[2] ?? 'thread' });
const me = engine.session();
for (let i = 0; i < 2; i++) {
  const t = performance.now();
  const r = await me.groupApply(me.table('D2').select(['g', 'x1', 'y']), ['g'], { source: FIT }, { parallel: true });
  console.log('10k groups x 100 rows', (performance.now() - t).toFixed(0), 'ms', r.value.numRows);
}
await engine.close();
