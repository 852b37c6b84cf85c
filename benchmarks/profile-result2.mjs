import { createEngine } from 'insitu';
const engine = await createEngine({ database: ':memory:', workers: 1 });
const me = engine.session();
const src = `
import time
from array import array
def f():
    ids = list(range(500000))
    preds = [i * 0.5 for i in ids]
    out = {}
    def t(label, fn):
        s = time.perf_counter(); fn(); out[label] = round((time.perf_counter() - s) * 1000, 1)
    t("set(map(type)) ints", lambda: set(map(type, ids)))
    t("None in ints", lambda: None in ids)
    t("list copy", lambda: list(ids))
    t("array q", lambda: array("q", ids))
    t("array d", lambda: array("d", preds))
    t("array d tobytes", lambda: array("d", preds).tobytes())
    a = array("q", ids)
    t("tobytes", lambda: a.tobytes())
    return out
`;
for (let i = 0; i < 2; i++) console.log((await me.doEval({ source: src })).value);
await engine.close();
