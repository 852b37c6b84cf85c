import { createEngine } from 'insitu';
import { fileURLToPath } from 'node:url';
import { SCORE } from './workloads.mjs';
const db = fileURLToPath(new URL('./out/data-1000000.db', import.meta.url));
for (const workers of [1, 2]) {
  const engine = await createEngine({ database: db, workers });
  const me = engine.session();
  await Promise.all([1, 2, 3, 4].map(() => me.doEval({ source: 'def f():\n    return 1' })));
  const data = me.table('DATA').select(['id', 'x1', 'x2', 'x3']);
  for (const [label, src] of [
    ['trivial', 'def f(df):\n    return len(df)'],
    ['trivial', 'def f(df):\n    return len(df)'],
    ['compute', 'def f(df, w0=0.5, w1=1.5, w2=-2.0, w3=0.25):\n    p = [w0 + w1 * a + w2 * b + w3 * c for a, b, c in zip(df["x1"], df["x2"], df["x3"])]\n    return len(p)'],
    ['score', SCORE],
    ['score', SCORE],
  ]) {
    const t = performance.now();
    await me.rowApply(data, { source: src }, { rows: 100000, parallel: true, inputType: 'frame' });
    console.log(workers, label, (performance.now() - t).toFixed(0), 'ms');
  }
  await engine.close();
}
