// insitu demo: the IRIS table in an embedded SQLite file, a stored least-squares script, and every
// apply function. Standard library Python only. Run with `pnpm demo`.
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createEngine, findBubblewrap } from 'insitu';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const database = here('./iris-demo.db');
for (const suffix of ['', '-wal', '-shm']) rmSync(database + suffix, { force: true });

// 1. Read the CSV into row objects.
const [header, ...lines] = readFileSync(here('./iris.csv'), 'utf8').trim().split('\n');
const names = header.split(',');
const rows = lines.map((line) =>
  Object.fromEntries(line.split(',').map((v, i) => [names[i], names[i] === 'SPECIES' ? v : Number(v)])),
);

// UDFs run inside an OS sandbox made by bubblewrap. The demo's own code is trusted, so on a machine
// without bwrap it says so and runs with the weaker, permission-model-only sandbox instead.
const osSandbox = findBubblewrap() === null ? 'none' : 'bubblewrap';
if (osSandbox === 'none') {
  console.log('bubblewrap (bwrap) is not installed: running the demo without the OS sandbox (apt-get install bubblewrap to get it)');
}
const started = Date.now();
const engine = await createEngine({ database, workers: 2, osSandbox });
try {
  const me = engine.session({ user: 'alice' });
  const iris = await me.create('IRIS', rows, { overwrite: true });
  console.log(`IRIS: ${await iris.count()} rows in ${database}`);

  // 2. A pure-Python least-squares fit, stored in the script repository.
  await me.scripts.create(
    'build_lm',
    `
FEATURES = ["SEPAL_WIDTH", "PETAL_LENGTH", "PETAL_WIDTH"]

def solve(a, b):
    """Solve a x = b by Gaussian elimination with partial pivoting."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(c + 1, n):
            f = m[r][c] / m[c][c]
            for k in range(c, n + 1):
                m[r][k] -= f * m[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][k] * x[k] for k in range(r + 1, n))) / m[r][r]
    return x

def build_lm(df, target="SEPAL_LENGTH"):
    """Least squares: target ~ 1 + FEATURES. Returns one row of coefficients."""
    xs = [[1.0] + [df[f][i] for f in FEATURES] for i in range(len(df))]
    y = df[target]
    k = len(xs[0])
    xtx = [[sum(r[i] * r[j] for r in xs) for j in range(k)] for i in range(k)]
    xty = [sum(r[i] * t for r, t in zip(xs, y)) for i in range(k)]
    beta = solve(xtx, xty)
    pred = [sum(b * v for b, v in zip(beta, r)) for r in xs]
    rmse = (sum((p - t) ** 2 for p, t in zip(pred, y)) / len(y)) ** 0.5
    print(f"fitted {target} on {len(df)} rows, rmse {rmse:.3f}")
    return {"intercept": [beta[0]], **{f: [b] for f, b in zip(FEATURES, beta[1:])}, "rmse": [rmse], "n": [len(df)]}
`,
    { overwrite: true, description: 'least-squares SEPAL_LENGTH model' },
  );
  console.log('scripts:', (await me.scripts.list()).map((s) => `${s.name} (${s.description})`).join(', '));

  // 3. tableApply: one model on the whole table.
  const whole = await me.tableApply(iris, 'build_lm');
  console.log('\ntableApply build_lm -> one model');
  process.stdout.write(whole.stdout);
  console.table(whole.value.toArray().map((r) => r.toJSON()));
  const model = whole.value.get(0).toJSON();

  // 4. groupApply: one model per species, in parallel; results in ascending key order.
  const perSpecies = await me.groupApply(iris, ['SPECIES'], 'build_lm', { parallel: true });
  console.log('groupApply build_lm by SPECIES -> one model per species');
  process.stdout.write(perSpecies.stdout);
  console.table(perSpecies.value.toArray().map((r) => r.toJSON()));

  // 5. rowApply: score chunks of 5 rows in parallel with the whole-table model (passed as arguments).
  const score = `
def score(chunk, coef):
    feats = ["SEPAL_WIDTH", "PETAL_LENGTH", "PETAL_WIDTH"]
    pred = [coef["intercept"] + sum(coef[f] * chunk[f][i] for f in feats) for i in range(len(chunk))]
    return {"SPECIES": chunk["SPECIES"], "SEPAL_LENGTH": chunk["SEPAL_LENGTH"], "PREDICTED": pred}
`;
  const coef = { intercept: model.intercept, SEPAL_WIDTH: model.SEPAL_WIDTH, PETAL_LENGTH: model.PETAL_LENGTH, PETAL_WIDTH: model.PETAL_WIDTH };
  const scored = await me.rowApply(iris, { source: score }, { rows: 5, parallel: true, args: { coef } });
  console.log(`rowApply score, rows=5, parallel -> ${scored.partitions.length} chunks, ${scored.value.numRows} scored rows; first 5:`);
  console.table(scored.value.toArray().slice(0, 5).map((r) => r.toJSON()));

  // 6. indexApply: three bootstrap resamples, each with its own seed; the UDF reads the data itself.
  const sample = await me.query('select SEPAL_LENGTH from IRIS').pull();
  const boot = await me.indexApply(
    3,
    {
      source: `
import random
def bootstrap(i, values):
    rng = random.Random(i)
    draw = [rng.choice(values) for _ in values]
    return {"sample": i, "mean": round(sum(draw) / len(draw), 4)}
`,
    },
    { parallel: true, args: { values: Array.from(sample.getChild('SEPAL_LENGTH').toArray()) } },
  );
  console.log('indexApply bootstrap x3 ->', boot.value);

  // 7. doEval: no input data, keyword arguments only.
  const hello = await me.doEval({ source: 'import sys\ndef info(who):\n    return f"hello {who} from Python {sys.version.split()[0]}"' }, { args: { who: 'alice' } });
  console.log('doEval ->', hello.value);
  console.log(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await engine.close();
}
