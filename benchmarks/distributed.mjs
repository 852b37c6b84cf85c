// Several engines on one PostgreSQL database, in one run: job throughput (trivial jobs/s) with 1 and 3
// engine processes; a distributed rowApply (score) with 2 processes x 1 worker against 1 process x 2
// workers (local, and distributed within the one process); and the per-task overhead of the shared
// queue (trivial indexApply tasks, distributed against local on the same worker). `pnpm bench:distrib`
// (or `--quick`). Needs a PostgreSQL server (INSITU_BENCH_PG_URL, default the local one, as superuser:
// the run creates and drops a database of its own per measurement).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { tableFromArrays } from 'apache-arrow';
import { createEngine } from 'insitu';
import { SCORE, TRIVIAL } from './workloads.mjs';

const quick = process.argv.includes('--quick');
const ADMIN = process.env.INSITU_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const JOBS = quick ? 20 : 120;
const ROWS = quick ? 50_000 : 1_000_000;
const CHUNK = quick ? 10_000 : 50_000;
const TASKS = quick ? 20 : 200;
const REPEAT = quick ? 1 : 3;
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const loadAtStart = loadavg();
const results = [];
const record = (workload, system, value, unit, extra = {}) => {
  results.push({ workload, system, value, unit, ...extra });
  console.error(`  ${workload} | ${system}: ${value.toFixed(2)} ${unit}`);
};

function psql(sql) {
  execFileSync('psql', [ADMIN, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** A new database for one measurement, and its drop. */
function freshDatabase() {
  const name = `insitu_bench_${randomBytes(5).toString('hex')}`;
  psql(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** Start a serving engine process; resolves when its worker answered. */
function startEngine(url, options) {
  const proc = spawn(process.execPath, [here('./serving-engine.mjs'), url, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (b) => {
      out += b.toString();
      const m = /ready (\S+)\n/.exec(out);
      if (m !== null) resolve({ proc, engineId: m[1] });
    });
    proc.on('exit', (code) => reject(new Error(`engine process exited with ${code}`)));
  });
}

function stopEngine(child) {
  return new Promise((resolve) => {
    child.proc.removeAllListeners('exit');
    child.proc.on('exit', () => resolve());
    child.proc.stdin.end();
  });
}

async function best(n, fn) {
  let top;
  for (let i = 0; i < n; i++) {
    const r = await fn();
    if (top === undefined || r.ms < top.ms) top = r;
  }
  return top;
}

// ---- job throughput ------------------------------------------------------------------------------
async function jobThroughput(engines) {
  const db = freshDatabase();
  const submitter = await createEngine({ database: db.url, workers: 1, maxConcurrentJobs: 0, maxQueuedJobsPerUser: 10_000 });
  const kids = await Promise.all(Array.from({ length: engines }, () => startEngine(db.url, { maxConcurrentJobs: engines, jobPollMs: 100 })));
  try {
    const me = submitter.session({ user: 'bench' });
    const run = async (n) => {
      const t = performance.now();
      const ids = [];
      for (let i = 0; i < n; i++) ids.push((await me.jobs.submit({ kind: 'doEval', func: { source: TRIVIAL } })).id);
      const states = await Promise.all(ids.map((id) => me.jobs.wait(id).then((s) => s.state)));
      if (states.some((s) => s !== 'succeeded')) throw new Error(`a job ended ${states.find((s) => s !== 'succeeded')}`);
      return { ms: performance.now() - t };
    };
    await run(Math.min(6, JOBS));
    const r = await best(REPEAT, () => run(JOBS));
    return (JOBS / r.ms) * 1000;
  } finally {
    await Promise.all(kids.map(stopEngine));
    await submitter.close();
    db.drop();
  }
}

// ---- distributed rowApply --------------------------------------------------------------------------
function points() {
  let s = 42;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  return tableFromArrays({
    id: Int32Array.from({ length: ROWS }, (_, i) => i),
    x1: Float64Array.from({ length: ROWS }, rnd),
    x2: Float64Array.from({ length: ROWS }, rnd),
    x3: Float64Array.from({ length: ROWS }, rnd),
  });
}

function checksum(table) {
  let sum = 0;
  for (const v of table.getChild('pred')) sum += v;
  return `${table.numRows}:${sum.toFixed(6)}`;
}

async function scoreRuns() {
  const db = freshDatabase();
  const out = {};
  try {
    const setup = await createEngine({ database: db.url, workers: 1 });
    await setup.session({ user: 'bench' }).create('POINTS', points());
    await setup.close();
    const score = async (engine, options) => {
      const me = engine.session({ user: 'bench' });
      const data = me.table('POINTS');
      await me.rowApply(data, { source: SCORE, name: 'score' }, { rows: CHUNK, inputType: 'columns', ...options });
      return best(REPEAT, async () => {
        const t = performance.now();
        const r = await me.rowApply(data, { source: SCORE, name: 'score' }, { rows: CHUNK, inputType: 'columns', ...options });
        return { ms: performance.now() - t, sum: checksum(r.value), engines: new Set(r.partitions.map((p) => p.engine)).size };
      });
    };
    // 1 process x 2 workers: local (parallel), then distributed through the queue within the one process.
    {
      const engine = await createEngine({ database: db.url, workers: 2 });
      out.local2 = await score(engine, { parallel: true });
      out.queue2 = await score(engine, { distribute: true });
      // Per-task overhead on one worker: trivial tasks through the queue against the same tasks run locally.
      await engine.close();
    }
    {
      const engine = await createEngine({ database: db.url, workers: 1 });
      const me = engine.session({ user: 'bench' });
      const f = { source: 'def f(i):\n    return i' };
      const tasks = async (options) => {
        await me.indexApply(10, f, options);
        return best(REPEAT, async () => {
          const t = performance.now();
          await me.indexApply(TASKS, f, options);
          return { ms: performance.now() - t };
        });
      };
      out.tasksLocal = await tasks({});
      out.tasksQueue = await tasks({ distribute: true });
      // 2 processes x 1 worker: this engine (the caller, which runs its own call's partitions too) and a serving one.
      const kid = await startEngine(db.url, {});
      try {
        out.dist2 = await score(engine, { distribute: true });
      } finally {
        await stopEngine(kid);
      }
      await engine.close();
    }
  } finally {
    db.drop();
  }
  return out;
}

console.error(`distributed benchmark${quick ? ' (quick)' : ''}: ${cpus().length} cores, load ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`);
const jobs1 = await jobThroughput(1);
record('job throughput', '1 engine process x 1 worker', jobs1, 'jobs/s');
const jobs3 = await jobThroughput(3);
record('job throughput', '3 engine processes x 1 worker', jobs3, 'jobs/s');
const s = await scoreRuns();
const rate = (r) => (ROWS / r.ms) * 1000;
record('score', '1 process x 2 workers, local (parallel)', rate(s.local2), 'rows/s', { ms: s.local2.ms, sum: s.local2.sum });
record('score', '1 process x 2 workers, distributed', rate(s.queue2), 'rows/s', { ms: s.queue2.ms, sum: s.queue2.sum });
record('score', '2 processes x 1 worker, distributed', rate(s.dist2), 'rows/s', { ms: s.dist2.ms, sum: s.dist2.sum, engines: s.dist2.engines });
const overhead = (s.tasksQueue.ms - s.tasksLocal.ms) / TASKS;
record('trivial tasks', '1 worker, local', s.tasksLocal.ms / TASKS, 'ms/task');
record('trivial tasks', '1 worker, distributed', s.tasksQueue.ms / TASKS, 'ms/task');
const sums = new Set([s.local2.sum, s.queue2.sum, s.dist2.sum]);
const loadAtEnd = loadavg();

const strongest = Math.max(rate(s.local2), rate(s.queue2), rate(s.dist2));
console.log(`\n## Distributed (${ROWS} rows, chunks of ${CHUNK}: ${Math.ceil(ROWS / CHUNK)} tasks; ${JOBS} jobs; PostgreSQL)\n`);
console.log(`load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at the start, ${loadAtEnd.map((l) => l.toFixed(2)).join(' ')} at the end, ${cpus().length} cores\n`);
console.log('| workload | configuration | figure | ratio |');
console.log('|---|---|---|---|');
console.log(`| job throughput | 1 engine process x 1 worker | ${jobs1.toFixed(1)} jobs/s | 1.00x |`);
console.log(`| job throughput | 3 engine processes x 1 worker | ${jobs3.toFixed(1)} jobs/s | ${(jobs3 / jobs1).toFixed(2)}x |`);
for (const [name, r] of [
  ['1 process x 2 workers, local (parallel)', s.local2],
  ['1 process x 2 workers, distributed', s.queue2],
  ['2 processes x 1 worker, distributed', s.dist2],
]) {
  console.log(`| score | ${name} | ${(r.ms / 1000).toFixed(2)} s (${Math.round(rate(r))} rows/s) | ${(rate(r) / strongest).toFixed(2)}x of the fastest |`);
}
console.log(`| trivial task | 1 worker, local | ${(s.tasksLocal.ms / TASKS).toFixed(2)} ms/task | |`);
console.log(`| trivial task | 1 worker, distributed | ${(s.tasksQueue.ms / TASKS).toFixed(2)} ms/task | overhead ${overhead.toFixed(2)} ms/task |`);
console.log(`\nresults agree: ${sums.size === 1 ? 'yes' : `NO (${[...sums].join(' / ')})`}; engines that ran partitions in the 2-process run: ${s.dist2.engines}`);
mkdirSync(here('./out'), { recursive: true });
const file = here(`./out/distributed-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ quick, rows: ROWS, chunk: CHUNK, jobs: JOBS, tasks: TASKS, loadAtStart, loadAtEnd, results, overheadMsPerTask: overhead }, null, 2));
console.error(`written ${file}`);
if (sums.size !== 1) process.exitCode = 1;
