import { createEngine } from 'insitu';
const engine = await createEngine({ database: ':memory:', workers: 1 });
const me = engine.session();
const make = 'ids = list(range(500000))\n    preds = [i * 0.5 for i in ids]\n';
for (const [label, body] of [
  ['build lists only', `${make}    return len(ids)`],
  ['build lists only', `${make}    return len(ids)`],
  ['return table', `${make}    return {"id": ids, "pred": preds}`],
  ['return table', `${make}    return {"id": ids, "pred": preds}`],
  ['encode only (python)', `${make}    import insitu._convert as c, time\n    t = time.perf_counter()\n    c.encode_columns({"id": ids, "pred": preds})\n    return time.perf_counter() - t`],
]) {
  const t = performance.now();
  const r = await me.doEval({ source: `def f():\n    ${body}` });
  console.log(label, (performance.now() - t).toFixed(0), 'ms', typeof r.value === 'number' ? r.value : '');
}
await engine.close();
