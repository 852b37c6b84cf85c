import { createEngine, SqliteStorage } from 'insitu';
import { fileURLToPath } from 'node:url';
import { FIT } from './workloads.mjs';
const db = fileURLToPath(new URL('./out/data-1000000.db', import.meta.url));
const st = new SqliteStorage(db);
let t = performance.now();
let n = 0, b = 0;
for await (const x of st.scan({ sql: 'SELECT grp, x1, y FROM DATA ORDER BY grp', params: [] }, { batchRows: 65536, breakOn: ['grp'] })) { n += x.numRows; b++; }
console.log('ordered scan with breaks', (performance.now() - t).toFixed(0), 'ms', n, b);
await st.close();
const engine = await createEngine({ database: db, workers: 2 });
const me = engine.session();
await Promise.all([1, 2, 3, 4].map(() => me.doEval({ source: 'def f():\n    return 1' })));
const data = me.table('DATA').select(['grp', 'x1', 'y']);
for (const [label, src] of [['trivial', 'def f(df):\n    return {"n": [len(df)]}'], ['fit', FIT], ['fit', FIT]]) {
  t = performance.now();
  await me.groupApply(data, ['grp'], { source: src }, { parallel: true, inputType: 'frame' });
  console.log(label, (performance.now() - t).toFixed(0), 'ms');
}
await engine.close();
