// insitu benchmarks: each workload next to its peers, in one run. `pnpm bench` (1M rows) or
// `pnpm bench --quick` (small sizes, a smoke test with no speed claims). Prints a table of absolute
// figures and ratios, the cost of bubblewrap around the sandbox process against the issue's budget,
// the cost of user switches, and writes benchmarks/out/results-<timestamp>.json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { createEngine } from 'insitu';
import { batchedJsonScore } from './batched-json-peer.mjs';
import { generate } from './generate.mjs';
import { budgetTable, sandboxBudget } from './sandbox-budget.mjs';
import { MODES, MODE_KEYS, rotated } from './sandbox-modes.mjs';
import { readColumns, readRows } from './scan-read.mjs';
import { SNAPSHOT_DIR, keepSnapshotsValid, snapshotState, snapshotWritten } from './snapshot-fixture.mjs';
import { median, medianRun, quantile } from './stats.mjs';
import { concurrentCalls, switchRound } from './user-switch.mjs';
import { FIT, SCORE, TRIVIAL } from './workloads.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const quick = process.argv.includes('--quick');
const ROWS = quick ? 20_000 : 1_000_000;
const MEMORY_ROWS = quick ? 100_000 : 10_000_000;
const LATENCY_CALLS = quick ? 100 : 1000;
const CHUNK = quick ? 5_000 : 100_000;
const REPEAT = quick ? 1 : 3;
/** New processes per mode for cold start (median). */
const COLD_STARTS = quick ? 1 : 5;
/** Blocks the warm doEval calls of each mode are split into, interleaved with the other modes' blocks. */
const LATENCY_BLOCKS = 10;
/** User switches per mode on a 1-worker engine (p50 reported). */
const SWITCHES = quick ? 3 : 20;
/** Calls in the multi-user throughput runs. */
const USER_CALLS = quick ? 8 : 40;
const loadAtStart = loadavg();

const db = generate(here(`./out/data-v2-${ROWS}.db`), ROWS);
const results = [];
const record = (workload, system, value, unit, extra = {}) => {
  results.push({ workload, system, value, unit, ...extra });
  console.error(`  ${workload} | ${system}: ${typeof value === 'number' ? value.toFixed(unit === 'rows/s' ? 0 : 2) : value} ${unit}`);
};
const rate = (rows, ms) => (rows / ms) * 1000;

/** Best of `n` timed runs of an async function returning { rows, ms, ... }. */
async function best(n, fn) {
  let top;
  for (let i = 0; i < n; i++) {
    const r = await fn();
    if (top === undefined || r.ms < top.ms) top = r;
  }
  return top;
}

function python(script, args) {
  const t = performance.now();
  const p = spawnSync('python3', [here(`./peers/${script}`), ...args], { encoding: 'utf8' });
  const ms = performance.now() - t;
  if (p.status !== 0) throw new Error(`${script} failed: ${p.stderr}`);
  return { ms, ...JSON.parse(p.stdout) };
}

// ---- scan floor ---------------------------------------------------------------------------------
function scan1(mode) {
  const conn = new Database(db, { readonly: true });
  const t = performance.now();
  const n = (mode === 'columns' ? readColumns : readRows)(conn, 0, ROWS + 1, CHUNK);
  const ms = performance.now() - t;
  conn.close();
  return { rows: n, ms };
}

async function scan2(mode) {
  const half = Math.ceil((ROWS + 1) / 2);
  const t = performance.now();
  const parts = await Promise.all(
    [0, 1].map(
      (k) =>
        new Promise((res, rej) => {
          const w = new Worker(here('./scan-worker.mjs'), { workerData: { path: db, lo: k * half, hi: (k + 1) * half, mode, chunk: CHUNK } });
          w.once('message', res);
          w.once('error', rej);
        }),
    ),
  );
  return { rows: parts.reduce((a, p) => a + p.n, 0), ms: performance.now() - t };
}

// ---- subprocess JSON lines peer --------------------------------------------------------------------
function jsonLines() {
  return new Promise((resolve, reject) => {
    const conn = new Database(db, { readonly: true });
    const t = performance.now();
    const child = spawn('python3', [here('./peers/json_lines_score.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
    let rows = 0;
    let checksum = 0;
    let rest = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const line of lines) {
        const [, p] = JSON.parse(line);
        rows++;
        checksum += p;
      }
    });
    child.on('close', () => {
      conn.close();
      resolve({ rows, checksum, ms: performance.now() - t });
    });
    child.on('error', reject);
    const it = conn.prepare('SELECT id, x1, x2, x3 FROM DATA').raw(true).iterate();
    const pump = () => {
      let buf = '';
      for (let i = 0; i < 5000; i++) {
        const next = it.next();
        if (next.done) {
          child.stdin.end(buf);
          return;
        }
        buf += JSON.stringify(next.value) + '\n';
      }
      if (child.stdin.write(buf)) setImmediate(pump);
      else child.stdin.once('drain', pump);
    };
    pump();
  });
}

// ---- insitu ---------------------------------------------------------------------------------------
/** A warm engine of `mode` (see sandbox-modes.mjs) on the benchmark database: every worker answered a call of user 'bench'. */
async function openEngine(workers, mode) {
  keepSnapshotsValid();
  const engine = await createEngine({ database: db, workers, snapshotDir: SNAPSHOT_DIR, ...MODES[mode].options });
  const me = engine.session({ user: 'bench' });
  await Promise.all(Array.from({ length: workers * 2 }, () => me.doEval({ source: TRIVIAL })));
  return { engine, me };
}

async function withEngine(workers, fn, mode = 'bubblewrap') {
  const { engine, me } = await openEngine(workers, mode);
  try {
    return await fn(me);
  } finally {
    await engine.close();
  }
}

/**
 * `fn({ engine, me }, mode, round)` on a warm engine of each of `modes`, all open at once, in `rounds`
 * rounds with the modes in a rotated order each round, so a machine whose load drifts weighs on every
 * mode alike. The results of each mode, in round order.
 */
async function interleaved(modes, workers, rounds, fn) {
  const open = {};
  try {
    for (const mode of modes) open[mode] = await openEngine(workers, mode);
    const out = Object.fromEntries(modes.map((mode) => [mode, []]));
    for (let r = 0; r < rounds; r++) for (const mode of rotated(modes, r)) out[mode].push(await fn(open[mode], mode, r));
    return out;
  } finally {
    for (const o of Object.values(open)) await o.engine.close();
  }
}

const fastest = (runs) => runs.reduce((a, b) => (b.ms < a.ms ? b : a));

async function insituScore(me) {
  const t = performance.now();
  const r = await me.rowApply(me.table('DATA').select(['id', 'x1', 'x2', 'x3']), { source: SCORE }, { rows: CHUNK, parallel: true, inputType: 'frame' });
  const ms = performance.now() - t;
  const pred = r.value.getChild('pred');
  let checksum = 0;
  for (const chunk of pred.data) for (const v of chunk.values.subarray(0, chunk.length)) checksum += v;
  return { rows: r.value.numRows, checksum, ms };
}

async function insituFit(me, key = 'grp') {
  const t = performance.now();
  const r = await me.groupApply(me.table('DATA').select([key, 'x1', 'y']), [key], { source: FIT }, { parallel: true, inputType: 'frame' });
  const ms = performance.now() - t;
  const n = r.value.getChild('n').toArray().reduce((a, b) => a + Number(b), 0);
  return { rows: n, groups: r.value.numRows, checksum: r.value.getChild('slope').toArray().reduce((a, b) => a + b, 0), ms };
}

/**
 * Warm doEval latency of every mode, interleaved: round 0 warms the JIT on both sides (300 calls),
 * then LATENCY_BLOCKS rounds of LATENCY_CALLS / LATENCY_BLOCKS timed calls per mode.
 */
async function latencies() {
  const blocks = await interleaved(MODE_KEYS, 2, LATENCY_BLOCKS + 1, async ({ me }, _mode, round) => {
    const times = [];
    for (let i = 0; i < (round === 0 ? 300 : LATENCY_CALLS / LATENCY_BLOCKS); i++) {
      const t = performance.now();
      await me.doEval({ source: TRIVIAL });
      times.push(performance.now() - t);
    }
    return round === 0 ? [] : times;
  });
  return Object.fromEntries(MODE_KEYS.map((mode) => {
    const timed = blocks[mode].slice(1);
    const times = timed.flat();
    return [mode, { p50: quantile(times, 0.5), p99: quantile(times, 0.99), calls: times.length, blockP50s: timed.map((b) => quantile(b, 0.5)) }];
  }));
}

function coldStart(database, mode, snapshotDir) {
  const args = [here('./cold-start.mjs'), database, mode, snapshotDir];
  const p = spawnSync(process.execPath, args, { encoding: 'utf8', cwd: here('..') });
  if (p.status !== 0) throw new Error(`cold start failed: ${p.stderr}`);
  return JSON.parse(p.stdout.trim().split('\n').pop());
}

function memory(database, mode) {
  keepSnapshotsValid();
  const p = spawnSync(process.execPath, [here('./memory.mjs'), database, String(CHUNK), mode, SNAPSHOT_DIR], { encoding: 'utf8', cwd: here('..') });
  if (p.status !== 0) throw new Error(`memory run failed: ${p.stderr}`);
  return JSON.parse(p.stdout.trim().split('\n').pop());
}

// ---- run --------------------------------------------------------------------------------------------
console.error(`insitu benchmarks: ${ROWS} rows${quick ? ' (quick)' : ''}, ${cpus().length} cores, load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`);
const floorRows = await best(REPEAT, async () => scan1('rows'));
record('scan floor', 'better-sqlite3, 1 thread, an array per row', rate(floorRows.rows, floorRows.ms), 'rows/s');
const floor1 = await best(REPEAT, async () => scan1('columns'));
record('scan floor', 'better-sqlite3, 1 thread, column by column', rate(floor1.rows, floor1.ms), 'rows/s');
const floor2 = await best(REPEAT, () => scan2('columns'));
record('scan floor', 'better-sqlite3, 2 worker connections, column by column', rate(floor2.rows, floor2.ms), 'rows/s');

const native1 = await best(REPEAT, async () => python('native_score.py', [db, '1']));
record('score', 'native CPython, 1 process', rate(native1.rows, native1.ms), 'rows/s');
const native2 = await best(REPEAT, async () => python('native_score.py', [db, '2']));
record('score', 'native CPython, 2 processes', rate(native2.rows, native2.ms), 'rows/s');
const json = await best(quick ? 1 : 2, jsonLines);
record('score', 'Node + python3 subprocess, JSON lines', rate(json.rows, json.ms), 'rows/s');
const batch1 = await best(REPEAT, () => batchedJsonScore(db, 1, CHUNK));
record('score', `Node + python3 subprocess, a JSON array per ${CHUNK}-row chunk, 1 process`, rate(batch1.rows, batch1.ms), 'rows/s');
const batch2 = await best(REPEAT, () => batchedJsonScore(db, 2, CHUNK));
record('score', `Node + python3 subprocesses, a JSON array per ${CHUNK}-row chunk, 2 processes`, rate(batch2.rows, batch2.ms), 'rows/s');
// The three modes' engines take turns, best of REPEAT each.
const scoreRuns = await interleaved(MODE_KEYS, 2, REPEAT, ({ me }) => insituScore(me));
const scoreBy = Object.fromEntries(MODE_KEYS.map((mode) => [mode, fastest(scoreRuns[mode])]));
for (const mode of MODE_KEYS) record('score', `insitu, 2 workers (${MODES[mode].label})`, rate(scoreBy[mode].rows, scoreBy[mode].ms), 'rows/s', { runs: scoreRuns[mode].map((r) => r.ms) });
const { bubblewrap: score2, none: score2n, thread: score2t } = scoreBy;
const score1 = await withEngine(1, (me) => best(REPEAT, () => insituScore(me)));
record('score', `insitu, 1 worker (${MODES.bubblewrap.label})`, rate(score1.rows, score1.ms), 'rows/s');
// Every score run, peers and insitu alike, must produce the rows and predictions of native CPython.
const scoreChecks = {
  'native CPython, 2 processes': native2,
  'subprocess JSON lines': json,
  'subprocess JSON batches, 1 process': batch1,
  'subprocess JSON batches, 2 processes': batch2,
  'insitu, 2 workers': score2,
  'insitu, 2 workers (no OS sandbox)': score2n,
  'insitu, 2 workers (thread)': score2t,
  'insitu, 1 worker': score1,
};
const scoreDisagree = Object.entries(scoreChecks)
  .filter(([, r]) => r.rows !== native1.rows || !(Math.abs(r.checksum - native1.checksum) < 1e-6 * Math.abs(native1.checksum)))
  .map(([name]) => name);
const checksumsAgree = scoreDisagree.length === 0;

const fitNative1 = await best(REPEAT, async () => python('native_fit.py', [db, '1']));
record('fit', 'native CPython, 1 process', rate(fitNative1.rows, fitNative1.ms), 'rows/s');
const fitNative2 = await best(REPEAT, async () => python('native_fit.py', [db, '2']));
record('fit', 'native CPython, 2 processes', rate(fitNative2.rows, fitNative2.ms), 'rows/s');
const fit2 = await withEngine(2, (me) => best(REPEAT, () => insituFit(me)));
record('fit', `insitu, 2 workers (${MODES.bubblewrap.label})`, rate(fit2.rows, fit2.ms), 'rows/s');
const fit2t = await withEngine(2, (me) => best(REPEAT, () => insituFit(me)), 'thread');
record('fit', 'insitu, 2 workers (thread)', rate(fit2t.rows, fit2t.ms), 'rows/s');
const agrees = (a, b) => a.groups === b.groups && Math.abs(a.checksum - b.checksum) < 1e-6 * Math.max(1, Math.abs(b.checksum));
const fitSmallNative1 = await best(REPEAT, async () => python('native_fit.py', [db, '1', 'sub']));
record('fit, 10k groups', 'native CPython, 1 process', rate(fitSmallNative1.rows, fitSmallNative1.ms), 'rows/s');
const fitSmall2 = await withEngine(2, (me) => best(REPEAT, () => insituFit(me, 'sub')));
record('fit, 10k groups', `insitu, 2 workers (${MODES.bubblewrap.label})`, rate(fitSmall2.rows, fitSmall2.ms), 'rows/s');
const fitAgree = agrees(fit2, fitNative1) && agrees(fitSmall2, fitSmallNative1);

const lat = await latencies();
for (const mode of MODE_KEYS) {
  record('latency', `insitu warm doEval p50 (${MODES[mode].label})`, lat[mode].p50, 'ms', { blockP50s: lat[mode].blockP50s });
  record('latency', `insitu warm doEval p99 (${MODES[mode].label})`, lat[mode].p99, 'ms');
}

// Each round starts one new process per mode, in a rotated order; every start finds a valid snapshot
// (see snapshot-fixture.mjs), and a start that wrote one anyway is flagged.
const colds = Object.fromEntries(MODE_KEYS.map((mode) => [mode, []]));
for (let i = 0; i < COLD_STARTS; i++) {
  for (const mode of rotated(MODE_KEYS, i)) {
    keepSnapshotsValid();
    const before = snapshotState();
    const c = coldStart(db, mode, SNAPSHOT_DIR);
    colds[mode].push({ ...c, snapshotWritten: snapshotWritten(before, snapshotState()) });
  }
}
const coldSnapshotWrites = MODE_KEYS.flatMap((mode) => colds[mode].filter((c) => c.snapshotWritten).map(() => mode));
for (const mode of MODE_KEYS) {
  const cs = colds[mode];
  record('cold start', `createEngine -> first doEval result, pool of 2 (${MODES[mode].label})`, median(cs.map((c) => c.fromCreateFirstResult)), 'ms', { runs: cs });
  record('cold start', `createEngine -> both workers answered (${MODES[mode].label})`, median(cs.map((c) => c.fromCreateBothWorkers)), 'ms');
  record('cold start', `new process -> first doEval result, incl. Node start and import (${MODES[mode].label})`, median(cs.map((c) => c.firstResult)), 'ms');
}
{
  // The very first start on a machine: no start-up snapshot yet, so the engine makes one first.
  const fresh = mkdtempSync(join(tmpdir(), 'insitu-bench-snapshot-'));
  try {
    const first = coldStart(db, 'bubblewrap', fresh);
    record('cold start', `createEngine -> first doEval result, no start-up snapshot yet (${MODES.bubblewrap.label})`, first.fromCreateFirstResult, 'ms', first);
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
}

// ---- user switches ------------------------------------------------------------------------------------
// A call by another user on a 1-worker engine replaces its worker; against a call by the same user.
const switchState = Object.fromEntries(MODE_KEYS.map((mode) => [mode, {}]));
const switches = Object.fromEntries(MODE_KEYS.map((mode) => [mode, { same: [], switched: [], wrong: 0 }]));
await interleaved(MODE_KEYS, 1, SWITCHES, ({ engine }, mode) => switchRound(engine, switchState[mode], switches[mode]));
for (const mode of MODE_KEYS) {
  const s = switches[mode];
  record('user switch', `1 worker: call by the user it serves, p50 (${MODES[mode].label})`, quantile(s.same, 0.5), 'ms', { times: s.same });
  record('user switch', `1 worker: call by another user (worker replaced), p50 of ${s.switched.length} (${MODES[mode].label})`, quantile(s.switched, 0.5), 'ms', { times: s.switched });
}
const switchWrong = MODE_KEYS.filter((mode) => switches[mode].wrong > 0);

// N calls at once among 4 users on 2 workers, against N calls of one user (whose workers are its own):
// each on its own engine, taking turns, median of REPEAT runs after one untimed run each.
const userRuns = {};
for (const mode of MODE_KEYS) {
  const runs = { one: [], four: [] };
  const solo = await openEngine(2, mode);
  const shared = await openEngine(2, mode);
  try {
    const seenSolo = new Set();
    const seenShared = new Set();
    const users = ['user-1', 'user-2', 'user-3', 'user-4'];
    await concurrentCalls(solo.engine, ['bench'], USER_CALLS, seenSolo);
    await concurrentCalls(shared.engine, users, USER_CALLS, seenShared);
    for (let r = 0; r < REPEAT; r++) {
      const oneFirst = r % 2 === 0;
      if (oneFirst) runs.one.push(await concurrentCalls(solo.engine, ['bench'], USER_CALLS, seenSolo));
      runs.four.push(await concurrentCalls(shared.engine, users, USER_CALLS, seenShared));
      if (!oneFirst) runs.one.push(await concurrentCalls(solo.engine, ['bench'], USER_CALLS, seenSolo));
    }
  } finally {
    await solo.engine.close();
    await shared.engine.close();
  }
  userRuns[mode] = runs;
  record('user switch', `${USER_CALLS} calls at once of 1 user, 2 workers (${MODES[mode].label})`, medianRun(runs.one).callsPerSecond, 'calls/s', { runs: runs.one });
  record('user switch', `${USER_CALLS} calls at once of 4 users in turn, 2 workers (${MODES[mode].label})`, medianRun(runs.four).callsPerSecond, 'calls/s', { runs: runs.four });
}

const memDb = generate(here(`./out/data-${MEMORY_ROWS}.db`), MEMORY_ROWS);
for (const mode of MODE_KEYS) {
  const mem = memory(memDb, mode);
  record('memory', `rowApply over ${MEMORY_ROWS} rows, peak RSS (${mode === 'thread' ? 'thread' : `engine + sandbox process, ${mode === 'bubblewrap' ? 'bubblewrap' : 'no OS sandbox'}`})`, mem.maxRssMb, 'MB', mem);
}

/** The fastest of `peers` ({ name: run }): insitu is reported against it, not only against the slow ones. */
const strongest = (peers) => Object.entries(peers).reduce((a, b) => (rate(b[1].rows, b[1].ms) > rate(a[1].rows, a[1].ms) ? b : a));
const [scorePeer, scoreTop] = strongest({
  'native CPython, 1 process': native1,
  'native CPython, 2 processes': native2,
  'subprocess JSON lines': json,
  'subprocess JSON batches, 1 process': batch1,
  'subprocess JSON batches, 2 processes': batch2,
});
const [fitPeer, fitTop] = strongest({ 'native CPython, 1 process': fitNative1, 'native CPython, 2 processes': fitNative2 });
const [batchPeer, batchTop] = strongest({ '1 process': batch1, '2 processes': batch2 });

const ratios = {
  [`score: insitu(2) / strongest peer (${scorePeer})`]: rate(score2.rows, score2.ms) / rate(scoreTop.rows, scoreTop.ms),
  [`score: insitu(2, thread) / strongest peer (${scorePeer})`]: rate(score2t.rows, score2t.ms) / rate(scoreTop.rows, scoreTop.ms),
  [`fit: insitu(2) / strongest peer (${fitPeer})`]: rate(fit2.rows, fit2.ms) / rate(fitTop.rows, fitTop.ms),
  'score: insitu(2) / native(1)': rate(score2.rows, score2.ms) / rate(native1.rows, native1.ms),
  'score: insitu(2, thread) / native(1)': rate(score2t.rows, score2t.ms) / rate(native1.rows, native1.ms),
  'score: insitu(2) / native(2)': rate(score2.rows, score2.ms) / rate(native2.rows, native2.ms),
  'score: insitu(2) / subprocess JSON': rate(score2.rows, score2.ms) / rate(json.rows, json.ms),
  [`score: insitu(2) / subprocess JSON batches (the faster: ${batchPeer})`]: rate(score2.rows, score2.ms) / rate(batchTop.rows, batchTop.ms),
  'score: insitu(2) / scan floor(2 connections)': rate(score2.rows, score2.ms) / rate(floor2.rows, floor2.ms),
  'scaling: insitu 2 workers / 1 worker': rate(score2.rows, score2.ms) / rate(score1.rows, score1.ms),
  'fit: insitu(2) / native(1)': rate(fit2.rows, fit2.ms) / rate(fitNative1.rows, fitNative1.ms),
  'fit: insitu(2, thread) / native(1)': rate(fit2t.rows, fit2t.ms) / rate(fitNative1.rows, fitNative1.ms),
  'fit: insitu(2) / native(2)': rate(fit2.rows, fit2.ms) / rate(fitNative2.rows, fitNative2.ms),
  'fit, 10k groups of 100 rows: insitu(2) / native(1)': rate(fitSmall2.rows, fitSmall2.ms) / rate(fitSmallNative1.rows, fitSmallNative1.ms),
};

const coldMedian = (mode, key) => median(colds[mode].map((c) => c[key]));
const budgetRows = sandboxBudget(
  Object.fromEntries(
    MODE_KEYS.map((mode) => [
      mode,
      {
        createEngineMs: coldMedian(mode, 'fromCreateEngine'),
        coldFirstMs: coldMedian(mode, 'fromCreateFirstResult'),
        coldBothMs: coldMedian(mode, 'fromCreateBothWorkers'),
        p50Ms: lat[mode].p50,
        p99Ms: lat[mode].p99,
        scoreRowsPerS: rate(scoreBy[mode].rows, scoreBy[mode].ms),
        runs: {
          createEngineMs: colds[mode].map((c) => c.fromCreateEngine),
          coldFirstMs: colds[mode].map((c) => c.fromCreateFirstResult),
          coldBothMs: colds[mode].map((c) => c.fromCreateBothWorkers),
          p50Ms: lat[mode].blockP50s,
          scoreMs: scoreRuns[mode].map((r) => r.ms),
        },
      },
    ]),
  ),
);
const switchRows = MODE_KEYS.map((mode) => {
  const s = switches[mode];
  const one = medianRun(userRuns[mode].one);
  const four = medianRun(userRuns[mode].four);
  return {
    mode,
    sameP50Ms: quantile(s.same, 0.5),
    switchP50Ms: quantile(s.switched, 0.5),
    switchMaxMs: Math.max(...s.switched),
    switches: s.switched.length,
    oneUserMs: one.ms,
    fourUsersMs: four.ms,
    fourUsersNewInterpreters: userRuns[mode].four.map((r) => r.newInterpreters),
    throughputRatio: four.callsPerSecond / one.callsPerSecond,
  };
});
const loadAtEnd = loadavg();

const fmt = (r) => (r.unit === 'rows/s' ? `${(r.value / 1e6).toFixed(3)} M rows/s` : `${r.value.toFixed(r.unit === 'ms' ? 2 : 0)} ${r.unit}`);
const loads = (l) => l.map((x) => x.toFixed(2)).join(' ');
console.log(`\ninsitu benchmarks — ${new Date().toISOString()} — ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${ROWS} rows${quick ? ' (quick: no speed claims)' : ''}`);
console.log(`load average (1, 5, 15 min): ${loads(loadAtStart)} at the start, ${loads(loadAtEnd)} at the end\n`);
console.log('| workload | system | result |\n|---|---|---|');
for (const r of results) console.log(`| ${r.workload} | ${r.system} | ${fmt(r)} |`);
console.log('\n| ratio | value |\n|---|---|');
for (const [k, v] of Object.entries(ratios)) console.log(`| ${k} | ${v.toFixed(2)}x |`);
console.log(`\nThe cost of bubblewrap around the sandbox process (cold start: median of ${COLD_STARTS} new processes per mode; warm doEval: ${LATENCY_CALLS} calls per mode; score: best of ${REPEAT}; modes interleaved):\n`);
console.log(budgetTable(budgetRows));
console.log(`\nUser switches (1 worker: p50 over ${SWITCHES} switches and ${SWITCHES} same-user calls; ${USER_CALLS} calls at once on 2 workers: the median of ${REPEAT} runs):\n`);
console.log(`| mode | call by the user the worker serves, p50 | call by another user (worker replaced), p50 / max | ${USER_CALLS} calls of 1 user | ${USER_CALLS} calls of 4 users in turn (new interpreters per run) | 4 users / 1 user, throughput |`);
console.log('|---|---|---|---|---|---|');
for (const r of switchRows) {
  console.log(`| ${MODES[r.mode].label} | ${r.sameP50Ms.toFixed(2)} ms | ${r.switchP50Ms.toFixed(0)} / ${r.switchMaxMs.toFixed(0)} ms | ${r.oneUserMs.toFixed(0)} ms | ${r.fourUsersMs.toFixed(0)} ms (${r.fourUsersNewInterpreters.join(', ')}) | ${r.throughputRatio.toFixed(2)}x |`);
}
console.log(`\nresults agree with the native peer: score ${checksumsAgree ? 'yes' : `NO (${scoreDisagree.join(', ')})`}, fit ${fitAgree ? 'yes' : 'NO'}`);
console.log(`every switch replaced the worker and every same-user call kept it: ${switchWrong.length === 0 ? 'yes' : `NO (${switchWrong.join(', ')})`}`);
console.log(`cold starts that had to make a start-up snapshot: ${coldSnapshotWrites.length === 0 ? 'none' : coldSnapshotWrites.join(', ')}`);

mkdirSync(here('./out'), { recursive: true });
const file = here(`./out/results-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify(
    { date: new Date().toISOString(), quick, rows: ROWS, cores: cpus().length, node: process.version, loadAtStart, loadAtEnd, results, ratios, sandboxBudget: budgetRows, userSwitches: switchRows, strongestPeer: { score: scorePeer, fit: fitPeer }, checksumsAgree, scoreDisagree, fitAgree, switchWrong, coldSnapshotWrites },
    null,
    2,
  ),
);
console.log(`\nwritten: ${file}`);
if (!checksumsAgree || !fitAgree || switchWrong.length > 0) process.exitCode = 1;
