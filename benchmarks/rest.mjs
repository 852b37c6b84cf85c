// REST overhead: a trivial do-eval over HTTP (autocannon, in a child process, against the loopback
// server) next to the same call through the library API, on one engine with 2 workers in the default
// isolation, in one run. `pnpm bench:rest` (or `--quick` for a smoke test with short runs).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine, createServer } from 'insitu';
import { quantile } from './stats.mjs';
import { TRIVIAL } from './workloads.mjs';

const quick = process.argv.includes('--quick');
const DURATION_S = quick ? 2 : 10;
const CONCURRENCY = [1, 32];
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const loadAtStart = loadavg();

const dir = mkdtempSync(join(tmpdir(), 'insitu-rest-bench-'));
const engine = await createEngine({ database: join(dir, 'bench.db'), workers: 2, users: 'registered' });
const server = await createServer(engine);
try {
  await engine.users.create('bench', { password: 'bench-password' });
  const me = engine.session({ user: 'bench' });
  await me.scripts.create('f', TRIVIAL);
  const tokenAnswer = await fetch(`${server.url}/omlusers/api/oauth2/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'password', username: 'bench', password: 'bench-password' }),
  });
  const { accessToken } = await tokenAnswer.json();
  const url = `${server.url}/oml/api/py-scripts/v1/do-eval/f`;
  const check = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' }, body: '{}' });
  const checked = await check.json();
  if (check.status !== 200 || checked.result !== 1) throw new Error(`do-eval over HTTP answered ${check.status} ${JSON.stringify(checked)}`);

  /** The library call: `c` callers each calling doEval in a loop for the duration; every call timed. */
  async function library(c) {
    const latencies = [];
    const end = performance.now() + DURATION_S * 1000;
    await Promise.all(
      Array.from({ length: c }, async () => {
        while (performance.now() < end) {
          const t = performance.now();
          const r = await engine.session({ user: 'bench' }).doEval('f');
          latencies.push(performance.now() - t);
          if (r.value !== 1) throw new Error('wrong answer');
        }
      }),
    );
    return { requests: latencies.length, rps: latencies.length / DURATION_S, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
  }

  function http(c) {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [here('./rest-load.mjs'), JSON.stringify({ url, token: accessToken, body: '{}', connections: c, duration: DURATION_S })], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator exited ${code}`))));
    });
  }

  // Warm both paths (workers, JIT, connections) before timing.
  for (let i = 0; i < 300; i++) await me.doEval('f');
  const rows = [];
  for (const c of CONCURRENCY) {
    await http(c); // untimed warm-up of this concurrency
    const lib = await library(c);
    const web = await http(c);
    if (web.non2xx > 0 || web.errors > 0 || web.timeouts > 0) throw new Error(`HTTP run at ${c} had failures: ${JSON.stringify(web)}`);
    rows.push({ c, lib, web });
  }
  const fmt = (x, d = 2) => x.toFixed(d);
  console.log(`\n## REST overhead (${new Date().toISOString()}, ${cpus().length} cores, load ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} → ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  console.log(`trivial do-eval, 2 workers, isolation 'process' + bubblewrap, ${DURATION_S} s per run\n`);
  console.log('| concurrency | path | req/s | p50 ms | p99 ms |');
  console.log('|---|---|---|---|---|');
  for (const { c, lib, web } of rows) {
    console.log(`| ${c} | library (session.doEval) | ${fmt(lib.rps, 0)} | ${fmt(lib.p50)} | ${fmt(lib.p99)} |`);
    console.log(`| ${c} | HTTP (POST do-eval, autocannon ${c} connections) | ${fmt(web.rps, 0)} | ${fmt(web.p50)} | ${fmt(web.p99)} |`);
  }
  console.log('');
  for (const { c, lib, web } of rows) {
    console.log(`HTTP overhead per call at ${c}: ${fmt(web.p50 - lib.p50)} ms at p50; ${fmt((1000 / web.rps - 1000 / lib.rps) * 1000, 0)} µs of throughput time per request`);
  }
} finally {
  await server.close();
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
}
