import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session } from 'insitu';
import { ON_POSTGRES } from './backend.js';
import { rejectsWith, tempDatabase } from './helpers.js';
import { openStorage, rawQuery, writeInProgress } from './raw-database.js';

// Jobs across engines on one database: a shared queue, a crashed engine, close and reopen, retention.
// Two engines stay open on it (one worker each); the crash tests start a third in a child process.
const CRASHER = fileURLToPath(new URL('./fixtures/job-crasher.mjs', import.meta.url));
const db = tempDatabase();
let a: Engine;
let b: Engine;
let alice: Session;

beforeAll(async () => {
  // alice's tables, made without starting an engine (her jobs write to them).
  const storage = await openStorage(db.path);
  await storage.createTable('runs', [{ tag: 'seed', pid: 0 }], { owner: 'alice' });
  await storage.createTable('marks', [{ n: 0 }], { owner: 'alice' });
  await storage.close();
  await rawQuery(db.path, 'DELETE FROM marks');
});
afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
  db.cleanup();
});

/**
 * Run the crasher and kill -9 it while its job's UDF is inside its write (the partition's transaction
 * is open, holding SQLite's write lock or PostgreSQL's lock on `runs`); return the job id.
 */
function crashWhileRunning(retries: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CRASHER, db.path, String(retries)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let id = '';
    child.stderr.on('data', (d) => (err += String(d)));
    child.stdout.on('data', async (d) => {
      const m = /running (\S+)/.exec(String(d));
      if (m === null) return;
      id = m[1]!;
      const until = Date.now() + 45_000;
      while (!(await writeInProgress(db.path, 'runs')) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' && id !== '' ? resolve(id) : reject(new Error(`crasher exited ${code}: ${err}`))));
  });
}

/** Rows of `runs` with `tag`. */
const rowsTagged = async (tag: string) => (await rawQuery<{ n: number }>(db.path, 'SELECT CAST(count(*) AS INTEGER) AS n FROM runs WHERE tag = ?', [tag]))[0]!.n;

describe('a crashed engine', () => {
  it('a job whose engine was killed is INTERRUPTED for the next engine to open the database; nothing else changes', async () => {
    // No engine is open on the database while the child runs and dies.
    const id = await crashWhileRunning(0);
    const c = await createEngine({ database: db.path, workers: 1 });
    try {
      const st = await c.session({ user: 'alice' }).jobs.status(id);
      expect(st.state).toBe('failed');
      expect(st.error?.code).toBe('INTERRUPTED');
      expect(st.finished).not.toBeNull();
      await rejectsWith(c.session({ user: 'alice' }).jobs.result(id), 'INTERRUPTED');
      if (!ON_POSTGRES) {
        // The SQLite file itself is intact (PostgreSQL's own recovery is the server's).
        const raw = new Database(db.path, { readonly: true });
        try {
          expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
        } finally {
          raw.close();
        }
      }
      // The killed partition's write was never committed; nothing else was touched.
      expect(await rowsTagged('crash')).toBe(0);
      expect(await rowsTagged('seed')).toBe(1);
      expect((await rawQuery<{ n: number }>(db.path, 'SELECT CAST(count(*) AS INTEGER) AS n FROM marks'))[0]!.n).toBe(0);
    } finally {
      await c.close();
    }
  });

  it('with retries, the interrupted job is queued again and the next engine runs it to the end', async () => {
    const id = await crashWhileRunning(1);
    // The second run finds a mark and returns at once.
    await rawQuery(db.path, 'INSERT INTO marks VALUES (1)');
    const c = await createEngine({ database: db.path, workers: 1 });
    try {
      const me = c.session({ user: 'alice' });
      const st = await me.jobs.wait(id, { timeoutMs: 30_000 });
      expect(st.state).toBe('succeeded');
      expect(st.attempts).toBe(2);
      expect((await me.jobs.result(id)).value).toBe(1);
      expect(await rowsTagged('crash')).toBe(0);
    } finally {
      await c.close();
    }
  });
});

describe('jobs on one database, several engines', () => {
  beforeAll(async () => {
    [a, b] = await Promise.all([
      createEngine({ database: db.path, workers: 1, maxConcurrentJobs: 2, jobPollMs: 100 }),
      createEngine({ database: db.path, workers: 1, maxConcurrentJobs: 2, jobPollMs: 100 }),
    ]);
    alice = a.session({ user: 'alice' });
  });

  it('two engines run a shared queue: every job exactly once, at most maxConcurrentJobs at a time', async () => {
    const bobOnB = b.session({ user: 'alice' });
    const source = 'import insitu, os, time\ndef f(tag):\n    time.sleep(0.3)\n    insitu.connect().execute("INSERT INTO runs VALUES (?, ?)", [tag, 1])\n    return tag';
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const s = i % 2 === 0 ? alice : bobOnB;
      ids.push((await s.jobs.submit({ kind: 'doEval', func: { source }, options: { args: { tag: `t${i}` }, context: 'write' } })).id);
    }
    const done = await Promise.all(ids.map((id) => alice.jobs.wait(id)));
    expect(done.map((d) => d.state)).toEqual(Array(8).fill('succeeded'));
    expect(done.every((d) => d.attempts === 1)).toBe(true);
    const rows = (await alice.query("SELECT tag, count(*) AS n FROM runs WHERE tag <> 'seed' GROUP BY tag ORDER BY tag").pull()).toArray().map((r) => r.toJSON());
    expect(rows.map((r) => ({ ...r, n: Number(r.n) }))).toEqual(Array.from({ length: 8 }, (_, i) => ({ tag: `t${i}`, n: 1 })));
    // Never more than two running at once: sort the runs' intervals and count overlaps.
    const edges = done.flatMap((d) => [[d.started!.getTime(), 1], [d.finished!.getTime(), -1]] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let running = 0;
    let most = 0;
    for (const [, d] of edges) most = Math.max(most, (running += d));
    expect(most).toBeLessThanOrEqual(2);
    for (const id of ids) expect((await bobOnB.jobs.result(id)).value).toMatch(/^t\d$/);
  });

  /** Submit a long job and return the engine running it and the other one. */
  async function runningLong(): Promise<{ id: string; runner: Engine; other: Engine }> {
    const { id } = await alice.jobs.submit({ kind: 'doEval', func: { source: 'import time\ndef f():\n    time.sleep(60)' } });
    let holder: string | null = null;
    for (let i = 0; i < 400 && holder === null; i++) {
      holder = (await rawQuery<{ lease_owner: string }>(db.path, "SELECT lease_owner FROM insitu_engine_jobs WHERE id = ? AND state = 'running'", [id]))[0]?.lease_owner ?? null;
      if (holder === null) await new Promise((r) => setTimeout(r, 25));
    }
    const [runner, other] = holder === a.jobs.engineId ? [a, b] : [b, a];
    expect(runner.jobs.engineId).toBe(holder);
    return { id, runner, other };
  }

  it('a cancel made through another engine stops the job where it runs', async () => {
    const { id, other } = await runningLong();
    const t0 = Date.now();
    await other.session({ user: 'alice' }).jobs.cancel(id);
    const st = await other.session({ user: 'alice' }).jobs.wait(id, { timeoutMs: 20_000 });
    expect(st.state).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('closing the engine that runs a job ends it INTERRUPTED at once, never leaving it running', async () => {
    const { id, runner, other } = await runningLong();
    const t0 = Date.now();
    await runner.close();
    expect(Date.now() - t0).toBeLessThan(10_000);
    const st = await other.session({ user: 'alice' }).jobs.status(id);
    expect(st.state).toBe('failed');
    expect(st.error?.code).toBe('INTERRUPTED');
    const fresh = await createEngine({ database: db.path, workers: 1, maxConcurrentJobs: 2, jobPollMs: 100 });
    if (runner === a) {
      a = fresh;
      alice = a.session({ user: 'alice' });
    } else {
      b = fresh;
    }
  });

  it('a result survives close and reopen; finished jobs past jobRetentionMs are purged at open', async () => {
    const { id } = await alice.jobs.submit({ kind: 'indexApply', times: 3, func: { source: 'def f(i):\n    return {"i": i}' } });
    const want = (await alice.jobs.wait(id)) && (await alice.jobs.result(id));
    await a.close();
    a = await createEngine({ database: db.path, workers: 1, maxConcurrentJobs: 2, jobPollMs: 100 });
    alice = a.session({ user: 'alice' });
    const got = await alice.jobs.result(id);
    expect(got.value).toEqual(want.value);
    expect(got.partitions.map((p) => p.key)).toEqual([1, 2, 3]);
    await new Promise((r) => setTimeout(r, 1100));
    const short = await createEngine({ database: db.path, workers: 1, jobRetentionMs: 1000 });
    try {
      await rejectsWith(short.session({ user: 'alice' }).jobs.status(id), 'JOB_NOT_FOUND');
    } finally {
      await short.close();
    }
  });
});
