import { createEngine } from 'insitu';
import { FIT, SCORE } from '/work/main/benchmarks/workloads.mjs';
const engine = await createEngine({ database: '/work/main/benchmarks/out/data-1000000.db', workers: Number(process.argv[2] ?? 2), isolation: 'thread' });
const me = engine.session();
await me.doEval({ source: 'def f():\n    return 1' });
const TRIV_FIT = 'def fit(df):\n    xs = df["x1"]; ys = df["y"]\n    return {"slope": [0.0], "intercept": [0.0], "n": [len(xs)]}';
const TRIV_SCORE = 'def score(df):\n    return {"id": df["id"], "pred": df["x1"]}';
const TIME_FIT = 'import time\ndef fit(df):\n    xs = df["x1"]; ys = df["y"]\n    return {"slope": [0.0], "intercept": [0.0], "n": [len(xs)]}';
async function t(label, fn) { let best = 1e9; for (let i = 0; i < 3; i++) { const s = performance.now(); await fn(); best = Math.min(best, performance.now() - s); } console.log(label, best.toFixed(0), 'ms'); }
const fitq = () => me.table('DATA').select(['grp', 'x1', 'y']);
await t('fit', () => me.groupApply(fitq(), ['grp'], { source: FIT }, { parallel: true }));
await t('fit trivial', () => me.groupApply(fitq(), ['grp'], { source: TRIV_FIT }, { parallel: true }));
const sq = () => me.table('DATA').select(['id', 'x1', 'x2', 'x3']);
await t('score', () => me.rowApply(sq(), { source: SCORE }, { rows: 100000, parallel: true }));
await t('score trivial', () => me.rowApply(sq(), { source: TRIV_SCORE }, { rows: 100000, parallel: true }));
// pure python compute inside one worker
const r = await me.doEval({ source: `
import time, random
def f():
    random.seed(1)
    xs = [random.random() for _ in range(1000)]; ys = [random.random() for _ in range(1000)]
    ${'from types import SimpleNamespace'}
    ns = {}
    exec(${JSON.stringify(FIT)}, ns)
    fit = ns["fit"]
    d = {"x1": xs, "y": ys}
    t = time.perf_counter()
    for _ in range(1000): fit(d)
    fit_s = time.perf_counter() - t
    x1 = [random.random() for _ in range(100000)]
    ns2 = {}
    exec(${JSON.stringify(SCORE)}, ns2)
    d2 = {"id": list(range(100000)), "x1": x1, "x2": x1, "x3": x1}
    t = time.perf_counter()
    for _ in range(10): ns2["score"](d2)
    return {"fit_1M_s": fit_s, "score_1M_s": time.perf_counter() - t}
` });
console.log('pure compute in 1 pyodide worker', r.value);
await engine.close();
