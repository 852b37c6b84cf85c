// Where does the score workload spend its time? Scan alone, transport + trivial UDF, full UDF.
import { createEngine, SqliteStorage } from 'insitu';
import { fileURLToPath } from 'node:url';
import { SCORE } from './workloads.mjs';
const db = fileURLToPath(new URL('./out/data-1000000.db', import.meta.url));
const CHUNK = Number(process.argv[2] ?? 100000);
const st = new SqliteStorage(db);
let t = performance.now();
let n = 0;
for await (const b of st.scan({ sql: 'SELECT id, x1, x2, x3 FROM DATA', params: [] }, { batchRows: CHUNK })) n += b.numRows;
console.log('main-thread scan to Arrow', (performance.now() - t).toFixed(0), 'ms', n);
await st.close();
const engine = await createEngine({ database: db, workers: 2 });
const me = engine.session();
await Promise.all([1, 2, 3, 4].map(() => me.doEval({ source: 'def f():\n    return 1' })));
const data = me.table('DATA').select(['id', 'x1', 'x2', 'x3']);
for (const [label, src] of [
  ['trivial UDF (len)', 'def f(df):\n    return len(df)'],
  ['touch columns', 'def f(df):\n    return len(df["x1"]) + len(df["x2"])'],
  ['compute, no table', 'def f(df, w0=0.5, w1=1.5, w2=-2.0, w3=0.25):\n    p = [w0 + w1 * a + w2 * b + w3 * c for a, b, c in zip(df["x1"], df["x2"], df["x3"])]\n    return len(p)'],
  ['full score', SCORE],
]) {
  t = performance.now();
  await me.rowApply(data, { source: src }, { rows: CHUNK, parallel: true, inputType: 'frame' });
  console.log(label, (performance.now() - t).toFixed(0), 'ms');
}
await engine.close();
