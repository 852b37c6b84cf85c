// Python from SQL: rows/s of the score workload through insitu_row_eval (a _vt table read by SQLite)
// next to rowApply on the same engine, and the per-call overhead of a trivial insitu_eval next to doEval,
// in one run, rounds interleaved. `pnpm bench:sql` (or `--quick` for a smoke test).
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine } from 'insitu';
import { generate } from './generate.mjs';
import { quantile } from './stats.mjs';
import { SCORE, TRIVIAL } from './workloads.mjs';

const quick = process.argv.includes('--quick');
const ROWS = quick ? 20_000 : 1_000_000;
const CHUNK = quick ? 5_000 : 100_000;
const ROUNDS = quick ? 1 : 3;
const CALLS = quick ? 50 : 500;
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const loadAtStart = loadavg();

// The engine migrates the file it opens: work on a copy, so the shared data file stays as generate() made it.
const dir = mkdtempSync(join(tmpdir(), 'insitu-sql-bench-'));
const file = join(dir, 'bench.db');
copyFileSync(generate(here(`./out/data-v2-${ROWS}.db`), ROWS), file);
const engine = await createEngine({ database: file, workers: 2 });
const sql = new Database(file);
try {
  const me = engine.session({ user: 'bench' });
  await me.scripts.create('score', SCORE);
  await me.scripts.create('f', TRIVIAL);
  await me.scripts.create('g', 'def g(i):\n    return i');
  await me.sql.register(sql);
  const input = ['id', 'x1', 'x2', 'x3'];
  sql.exec(`CREATE VIRTUAL TABLE temp.scored USING insitu_row_eval_vt('SELECT ${input.join(', ')} FROM DATA', '{"oml_parallel_flag": true, "oml_input_type": "frame"}', '{"id":"INTEGER","pred":"REAL"}', ${CHUNK}, 'score')`);
  sql.exec(`CREATE VIRTUAL TABLE temp.scored_t USING insitu_row_eval_vt('DATA', '{"oml_parallel_flag": true, "oml_input_type": "frame"}', '{"id":"INTEGER","pred":"REAL"}', ${CHUNK}, 'score')`);
  const total = sql.prepare('SELECT count(*) AS n, sum(pred) AS s FROM scored');
  const totalT = sql.prepare('SELECT count(*) AS n, sum(pred) AS s FROM scored_t');

  const timed = async (fn) => {
    const t = performance.now();
    const r = await fn();
    return { ...r, ms: performance.now() - t };
  };
  const runs = { library: [], sql: [], libraryTable: [], sqlTable: [] };
  const sumPred = (table) => {
    let s = 0;
    for (const chunk of table.getChild('pred').data) for (const v of chunk.values.subarray(0, chunk.length)) s += v;
    return s;
  };
  const library = (proxy) => async () => {
    const r = await me.rowApply(proxy, 'score', { rows: CHUNK, parallel: true, inputType: 'frame' });
    return { rows: r.value.numRows, sum: sumPred(r.value) };
  };
  // Warm both engines' workers (the SQL host's start loading when register() starts it).
  await me.doEval('f');
  sql.prepare(`SELECT VALUE FROM insitu_eval('{"oml_parallel_flag": true}', 'JSON', 'f')`).get();
  sql.prepare(`SELECT * FROM insitu_index_eval('{"oml_parallel_flag": true}', 'JSON', 4, 'g')`).get();
  for (let round = 0; round < ROUNDS; round++) {
    // The same call both ways over a query input (read by the engine), then over the table (read by the workers).
    runs.library.push(await timed(library(me.query(`SELECT ${input.join(', ')} FROM DATA`))));
    runs.sql.push(await timed(async () => { const r = total.get(); return { rows: r.n, sum: r.s }; }));
    runs.libraryTable.push(await timed(library(me.table('DATA'))));
    runs.sqlTable.push(await timed(async () => { const r = totalT.get(); return { rows: r.n, sum: r.s }; }));
  }
  for (const [k, rs] of Object.entries(runs)) {
    for (const r of rs) if (r.rows !== ROWS || Math.abs(r.sum - runs.library[0].sum) > 1e-6 * Math.abs(r.sum)) throw new Error(`${k}: ${r.rows} rows, sum ${r.sum}`);
  }
  const rate = (r) => (r.rows / r.ms) * 1000;
  const range = (rs) => { const xs = rs.map(rate).sort((a, b) => a - b); return [xs[0], xs.at(-1)]; };
  const fmt = ([lo, hi]) => `${Math.round(lo).toLocaleString('en')}–${Math.round(hi).toLocaleString('en')} rows/s`;
  const ratios = (a, b) => a.map((r, i) => rate(r) / rate(b[i]));
  const ratioText = (xs) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}x`;

  // Per-call overhead: a trivial call, alternating blocks of library and SQL calls.
  const lib = [];
  const viaSql = [];
  const one = sql.prepare(`SELECT VALUE FROM insitu_eval('{}', 'JSON', 'f')`).pluck();
  for (let block = 0; block < 10; block++) {
    for (let i = 0; i < CALLS / 10; i++) {
      let t = performance.now();
      if ((await me.doEval('f')).value !== 1) throw new Error('doEval answered wrong');
      lib.push(performance.now() - t);
      t = performance.now();
      if (one.get() !== '1') throw new Error('insitu_eval answered wrong');
      viaSql.push(performance.now() - t);
    }
  }
  const p = (xs, q) => quantile(xs, q).toFixed(2);
  console.log(`machine: ${cpus().length} cores, load ${loadAtStart.map((x) => x.toFixed(2)).join(' ')} at start; ${ROWS.toLocaleString('en')} rows, chunks of ${CHUNK.toLocaleString('en')}, 2 workers, default isolation, ${ROUNDS} interleaved rounds`);
  console.log(`score, query input:  rowApply ${fmt(range(runs.library))}; insitu_row_eval ${fmt(range(runs.sql))}; ratio per round ${ratioText(ratios(runs.sql, runs.library))}`);
  console.log(`score, table input:  rowApply ${fmt(range(runs.libraryTable))}; insitu_row_eval ${fmt(range(runs.sqlTable))}; ratio per round ${ratioText(ratios(runs.sqlTable, runs.libraryTable))}`);
  console.log(`trivial call (${CALLS} each): doEval p50 ${p(lib, 0.5)} ms p99 ${p(lib, 0.99)} ms; insitu_eval p50 ${p(viaSql, 0.5)} ms p99 ${p(viaSql, 0.99)} ms; overhead p50 ${(quantile(viaSql, 0.5) - quantile(lib, 0.5)).toFixed(2)} ms`);
} finally {
  sql.close();
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
}
