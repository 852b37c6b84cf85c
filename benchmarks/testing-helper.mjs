// insitu/testing call latency: the targets are a warm helper call within 5 ms and the first call of a
// fresh test process within 0.6 s with the start-up snapshot on disk. The peer is the engine's own
// warm tableApply in the same mode ('thread', an in-memory database) over a table already stored: the
// helper's extra cost is storing the call's rows as a table first.
//   pnpm build && node benchmarks/testing-helper.mjs
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from 'insitu';
import { loadUdf, closeTestPool } from 'insitu/testing';
import { median, quantile } from './stats.mjs';

const dir = mkdtempSync(join(tmpdir(), 'insitu-helper-bench-'));
const file = join(dir, 'score.py');
writeFileSync(file, 'def score(df, k=1):\n    return {"s": [x * k for x in df["x"]]}\n');
const rows = Array.from({ length: 10 }, (_, i) => ({ x: i }));
const WARMUP = 100;
const CALLS = 500;
const FRESH = 5;

console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

// First call in a fresh process (each process: import, loadUdf, one table() call), snapshot on disk.
const child = `
const t0 = performance.now();
const { loadUdf } = await import('insitu/testing');
const t1 = performance.now();
const udf = await loadUdf(${JSON.stringify(file)});
await udf.table(${JSON.stringify(rows)}, { k: 2 });
const t2 = performance.now();
console.log(JSON.stringify({ fromStart: t2, fromImport: t2 - t0, fromLoad: t2 - t1 }));
`;
const fresh = [];
for (let i = 0; i < FRESH; i++) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8', cwd: process.cwd() });
  if (r.status !== 0) throw new Error(r.stderr);
  fresh.push(JSON.parse(r.stdout.trim().split('\n').pop()));
}

// Warm calls in this process.
const udf = await loadUdf(file);
for (let i = 0; i < WARMUP; i++) await udf.table(rows, { k: 2 });
const helper = [];
for (let i = 0; i < CALLS; i++) {
  const t = performance.now();
  await udf.table(rows, { k: 2 });
  helper.push(performance.now() - t);
}
await closeTestPool();

const engine = await createEngine({ database: ':memory:', isolation: 'thread', workers: 1 });
const me = engine.session({ user: 'bench' });
const table = await me.create('T', rows);
const func = { source: 'def score(df, k=1):\n    return {"s": [x * k for x in df["x"]]}\n', name: 'score' };
for (let i = 0; i < WARMUP; i++) await me.tableApply(table, func, { args: { k: 2 } });
const peer = [];
for (let i = 0; i < CALLS; i++) {
  const t = performance.now();
  await me.tableApply(table, func, { args: { k: 2 } });
  peer.push(performance.now() - t);
}
await engine.close();
rmSync(dir, { recursive: true, force: true });

const f = (x) => x.toFixed(2);
console.log(`\n| measure | helper | engine tableApply (peer) | ratio |\n|---|---|---|---|`);
console.log(`| warm call p50 (ms, ${CALLS} calls after ${WARMUP}) | ${f(median(helper))} | ${f(median(peer))} | ${f(median(helper) / median(peer))}x |`);
console.log(`| warm call p99 (ms) | ${f(quantile(helper, 0.99))} | ${f(quantile(peer, 0.99))} | ${f(quantile(helper, 0.99) / quantile(peer, 0.99))}x |`);
console.log(`\nfirst call in a fresh process (${FRESH} processes, median; snapshot on disk):`);
console.log(`  from loadUdf: ${f(median(fresh.map((x) => x.fromLoad)))} ms; from the import: ${f(median(fresh.map((x) => x.fromImport)))} ms; from process start: ${f(median(fresh.map((x) => x.fromStart)))} ms`);
console.log(`  each from loadUdf: ${fresh.map((x) => f(x.fromLoad)).join(', ')} ms`);
console.log(`load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
