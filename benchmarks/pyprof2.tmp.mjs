import { createEngine } from 'insitu';
import { FIT } from './workloads.mjs';
const engine = await createEngine({ database: ':memory:', workers: 1, isolation: 'thread' });
const me = engine.session();
const r = await me.doEval({ source: `
import time, cProfile, pstats, io, random
from insitu import _runner
def f():
    task = {"source": ${JSON.stringify(FIT)}, "name": "t", "func": None, "input_kind": "data", "input_type": "frame", "index": None, "args_json": "{}"}
    random.seed(1)
    groups = [{"grp": [g]*100, "x1": [random.random() for _ in range(100)], "y": [random.random() for _ in range(100)]} for g in range(1000)]
    t = time.perf_counter()
    _runner.run_groups(task, iter(groups))
    total = time.perf_counter() - t
    pr = cProfile.Profile(); pr.enable()
    _runner.run_groups(task, iter(groups))
    pr.disable()
    s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(16)
    return {"ms_per_group": total, "prof": s.getvalue()}
` });
console.log(r.value.ms_per_group); console.log(r.value.prof);
await engine.close();
