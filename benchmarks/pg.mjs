// score and fit over the same 1M rows with PostgreSQL storage next to SQLite storage, in one run, rounds
// interleaved (SQLite, PostgreSQL, then the other way round). `pnpm bench:pg` (or `--quick` for a smoke
// test). The server: INSITU_BENCH_PG_URL (an administrator's URL; default postgres://postgres@127.0.0.1:5432/postgres);
// the run creates a database of its own there and drops it at the end.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createEngine } from 'insitu';
import { generate } from './generate.mjs';
import { FIT, SCORE } from './workloads.mjs';

const quick = process.argv.includes('--quick');
const ROWS = quick ? 20_000 : 1_000_000;
const CHUNK = quick ? 5_000 : 100_000;
const ROUNDS = quick ? 1 : 3;
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const loadAtStart = loadavg();

const admin = process.env.INSITU_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const psql = (url, sql) => execFileSync('psql', [url, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim();
const dbName = `insitu_bench_${randomBytes(4).toString('hex')}`;
const pgUrl = new URL(admin);
pgUrl.pathname = `/${dbName}`;

// The engine migrates the file it opens: work on a copy, so the shared data file stays as generate() made it.
const dir = mkdtempSync(join(tmpdir(), 'insitu-pg-bench-'));
const file = join(dir, 'bench.db');
copyFileSync(generate(here(`./out/data-v2-${ROWS}.db`), ROWS), file);
psql(admin, `CREATE DATABASE ${dbName}`);
const engines = {};
try {
  engines.sqlite = await createEngine({ database: file, workers: 2 });
  engines.postgres = await createEngine({ database: pgUrl.toString(), workers: 2 });
  const sessions = { sqlite: engines.sqlite.session({ user: 'bench' }), postgres: engines.postgres.session({ user: 'bench' }) };
  // The same rows in PostgreSQL, stored through the engine (a table of the bench user).
  const tLoad = performance.now();
  const data = await sessions.sqlite.query('SELECT * FROM DATA').pull();
  await sessions.postgres.create('DATA', data);
  const loadMs = performance.now() - tLoad;
  psql(pgUrl.toString(), 'ANALYZE');

  const score = async (me) => {
    const t = performance.now();
    const r = await me.rowApply(me.table('DATA').select(['id', 'x1', 'x2', 'x3']), { source: SCORE }, { rows: CHUNK, parallel: true, inputType: 'frame' });
    const ms = performance.now() - t;
    let checksum = 0;
    for (const chunk of r.value.getChild('pred').data) for (const v of chunk.values.subarray(0, chunk.length)) checksum += v;
    return { rows: r.value.numRows, checksum, ms };
  };
  const fit = async (me) => {
    const t = performance.now();
    const r = await me.groupApply(me.table('DATA').select(['grp', 'x1', 'y']), ['grp'], { source: FIT }, { parallel: true, inputType: 'frame' });
    const ms = performance.now() - t;
    const rows = r.value.getChild('n').toArray().reduce((a, b) => a + Number(b), 0);
    return { rows, groups: r.value.numRows, checksum: r.value.getChild('slope').toArray().reduce((a, b) => a + b, 0), ms };
  };
  // Warm both engines' workers.
  for (const me of Object.values(sessions)) await me.doEval({ source: 'def f():\n    return 1' });

  const runs = { score: { sqlite: [], postgres: [] }, fit: { sqlite: [], postgres: [] } };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ['sqlite', 'postgres'] : ['postgres', 'sqlite'];
    for (const [name, fn] of [['score', score], ['fit', fit]]) for (const b of order) runs[name][b].push(await fn(sessions[b]));
  }
  // Both backends must compute the same thing.
  const bad = [];
  for (const [name, byBackend] of Object.entries(runs)) {
    const ref = byBackend.sqlite[0];
    for (const [b, rs] of Object.entries(byBackend)) {
      for (const r of rs) {
        if (r.rows !== ROWS || r.groups !== ref.groups || !(Math.abs(r.checksum - ref.checksum) <= 1e-6 * Math.max(1, Math.abs(ref.checksum)))) bad.push(`${name} on ${b}: ${r.rows} rows, checksum ${r.checksum}`);
      }
    }
  }
  const rate = (r) => (r.rows / r.ms) * 1000;
  const best = (rs) => Math.max(...rs.map(rate));
  const fmt = (x) => `${Math.round(x).toLocaleString('en')} rows/s`;
  const lines = [
    `# PostgreSQL storage next to SQLite: ${ROWS.toLocaleString('en')} rows, 2 workers each, best of ${ROUNDS} (rounds interleaved)`,
    '',
    `${cpus().length} cores; load average at start ${loadAtStart.map((x) => x.toFixed(2)).join(' / ')}, at end ${loadavg().map((x) => x.toFixed(2)).join(' / ')}`,
    `PostgreSQL ${psql(admin, 'SHOW server_version')} on ${pgUrl.host}; DATA stored through the engine in ${(loadMs / 1000).toFixed(1)} s`,
    '',
    '| workload | SQLite | PostgreSQL | PostgreSQL / SQLite (best) | per round |',
    '|---|---|---|---|---|',
  ];
  const ratios = {};
  for (const [name, byBackend] of Object.entries(runs)) {
    const s = best(byBackend.sqlite);
    const p = best(byBackend.postgres);
    ratios[name] = p / s;
    const perRound = byBackend.postgres.map((r, i) => (rate(r) / rate(byBackend.sqlite[i])).toFixed(2)).join(', ');
    lines.push(`| ${name} | ${fmt(s)} | ${fmt(p)} | ${(p / s).toFixed(2)}x | ${perRound} |`);
  }
  console.log(lines.join('\n'));
  if (bad.length > 0) console.log(`\nDISAGREE with SQLite: ${bad.join('; ')}`);
  mkdirSync(here('./out'), { recursive: true });
  const out = here(`./out/pg-results-${new Date().toISOString().replaceAll(':', '-')}.json`);
  writeFileSync(out, JSON.stringify({ rows: ROWS, rounds: ROUNDS, loadAtStart, loadAtEnd: loadavg(), loadMs, ratios, runs }, null, 2));
  console.log(`\n${out}`);
  if (bad.length > 0) process.exitCode = 1;
} finally {
  await Promise.allSettled(Object.values(engines).map((e) => e.close()));
  rmSync(dir, { recursive: true, force: true });
  psql(admin, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
}
