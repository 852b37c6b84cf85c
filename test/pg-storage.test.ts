import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStorage, createEngine, type Engine, type NewJob, type StoredJob } from 'insitu';
import { freshPostgresDatabase } from './backend.js';
import { rejectsWith } from './helpers.js';

// What only PostgreSQL storage has: several engines (here: several storages, each with its own
// connection pool, as separate engines have) racing on one database. Runs in the `postgres` project only.
const db = freshPostgresDatabase();
const opened: PostgresStorage[] = [];
let engine: Engine | undefined;

async function storage(): Promise<PostgresStorage> {
  const s = await PostgresStorage.open(db.url);
  opened.push(s);
  return s;
}

/**
 * Rows of a statement run by psql on a connection of the test's own (to look at the engine tables as an
 * operator would), every value as text.
 */
function sql(text: string): string[][] {
  const out = execFileSync('psql', [db.url, '-X', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', text], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

let seq = 0;
function job(owner = 'alice'): NewJob {
  seq += 1;
  return { id: `job-${seq}`, owner, kind: 'doEval', func: '<inline>', call: '{}', origin: null, timeoutMs: 60_000, retries: 0, created: new Date() };
}

afterAll(async () => {
  await engine?.close();
  await Promise.allSettled(opened.map((s) => s.close()));
  db.drop();
});

describe('PostgreSQL storage', () => {
  it('three engines migrating one empty database at once all open it, and each migration is applied once', async () => {
    const three = await Promise.all([storage(), storage(), storage()]);
    const applied = sql('SELECT id, count(*) FROM insitu_engine_migrations GROUP BY id ORDER BY id');
    expect(applied.map((r) => r[0])).toContain('001-catalog');
    expect(applied.every((r) => r[1] === '1')).toBe(true);
    // Each works on the shared catalog: what one stores, the others read.
    await three[0]!.putUser({ name: 'alice', description: '', created: new Date() }, { ifMissing: false });
    expect((await three[2]!.getUser('alice'))?.name).toBe('alice');
    await rejectsWith(three[1]!.putUser({ name: 'alice', description: '', created: new Date() }, { ifMissing: false }), 'ALREADY_EXISTS');
  });

  it('location is the URL with the password masked', async () => {
    const url = new URL(db.url);
    url.password = 's3cret-pw';
    const s = await PostgresStorage.open(url.toString());
    opened.push(s);
    expect(s.location).not.toContain('s3cret-pw');
    expect(s.location).toBe(db.url.replace('postgres@', 'postgres:***@'));
  });

  it('an unreachable server fails createEngine with STORAGE_ERROR naming the masked URL, before any worker starts', async () => {
    const t0 = Date.now();
    const e = await rejectsWith(createEngine({ database: 'postgresql://app:hunter22@127.0.0.1:1/nowhere', workers: 1 }), 'STORAGE_ERROR');
    expect(e.message).toContain('cannot open PostgreSQL database postgresql://app:***@127.0.0.1:1/nowhere');
    expect(e.message).toMatch(/ECONNREFUSED|connect/);
    expect(e.message).not.toContain('hunter22');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('claimJob from many connections at once: no job claimed twice, never more running than maxRunning', async () => {
    const engines = await Promise.all(Array.from({ length: 6 }, () => storage()));
    const ids = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const j = job();
      ids.add(j.id);
      await engines[i % engines.length]!.insertJob(j);
    }
    const maxRunning = 3;
    const claimed: string[] = [];
    // Counted from claims resolved and finishes begun, so never above what the database holds running.
    let running = 0;
    let most = 0;
    await Promise.all(
      engines.flatMap((s, e) =>
        // Two claimers per engine (an engine claims whenever a job slot frees).
        [0, 1].map(async (k) => {
          const me = `${hostname()}:1:0000000${e}`;
          for (let idle = 0; idle < 40; ) {
            const got: StoredJob | null = await s.claimJob({ engine: me, now: new Date(), leaseUntil: new Date(Date.now() + 60_000), maxRunning });
            if (got === null) {
              if (claimed.length === ids.size) return;
              idle += 1;
              await new Promise((r) => setTimeout(r, 5 + k));
              continue;
            }
            running += 1;
            most = Math.max(most, running);
            claimed.push(got.id);
            expect(got).toMatchObject({ state: 'running', leaseOwner: me, attempts: 1 });
            await new Promise((r) => setTimeout(r, 2 + ((e * 7 + k) % 5)));
            running -= 1;
            const done = await s.finishJob(got.id, me, { state: 'succeeded', finished: new Date(), progress: { partitionsDone: 1, partitionsTotal: 1, rowsDone: 0 } });
            expect(done).toBe(true);
          }
        }),
      ),
    );
    expect(claimed.length).toBe(ids.size);
    expect(new Set(claimed)).toEqual(ids);
    expect(most).toBeLessThanOrEqual(maxRunning);
    // More than one engine took part, and every job ran once.
    expect(sql(`SELECT attempts, count(*) FROM insitu_engine_jobs WHERE state = 'succeeded' GROUP BY attempts`)).toEqual([['1', String(ids.size)]]);
  });

  it('only the lease holder finishes or requeues a job; an expired lease is recovered exactly once over racing engines', async () => {
    const [a, b, c] = await Promise.all([storage(), storage(), storage()]);
    sql(`UPDATE insitu_engine_jobs SET state = 'failed' WHERE state IN ('queued', 'running')`);
    const holder = 'elsewhere:4242:0badc0de';
    const lease = (ms: number) => new Date(Date.now() + ms);
    const first = { ...job(), retries: 1 };
    await a.insertJob(first);
    const got = await a.claimJob({ engine: holder, now: new Date(), leaseUntil: lease(60_000), maxRunning: 10 });
    expect(got?.id).toBe(first.id);
    const outcome = { state: 'succeeded' as const, finished: new Date(), progress: { partitionsDone: 0, partitionsTotal: null, rowsDone: 0 } };
    expect(await b.finishJob(first.id, 'other:1:00000000', outcome)).toBe(false);
    expect(await b.requeueJob(first.id, 'other:1:00000000')).toBe(false);
    expect(await b.renewLeases('other:1:00000000', [first.id], lease(60_000))).toEqual([first.id]);
    expect(await b.renewLeases(holder, [first.id], lease(60_000))).toEqual([]);
    expect((await c.getJob(first.id, 'alice'))?.state).toBe('running');

    // Ten jobs whose holder is gone: leases that expired a moment ago; half with a retry left.
    const stale: string[] = [];
    for (let i = 0; i < 10; i++) {
      const j = { ...job(), retries: i % 2 };
      stale.push(j.id);
      await a.insertJob(j);
      await a.claimJob({ engine: holder, now: new Date(), leaseUntil: lease(-1), maxRunning: 100 });
    }
    const error = { code: 'INTERRUPTED', message: 'its engine stopped' } as const;
    const ended = await Promise.all([a, b, c, a, b, c].map((s) => s.recoverJobs({ now: new Date(), isDead: () => false, error })));
    const all = ended.flat().sort();
    expect(all).toEqual([...stale].sort());
    const after = await Promise.all(stale.map((id) => c.getJob(id, 'alice')));
    expect(after.map((j) => j!.state)).toEqual(stale.map((_, i) => (i % 2 === 1 ? 'queued' : 'failed')));
    // A requeued job used its one retry once.
    expect(after.filter((j) => j!.state === 'queued').every((j) => j!.retries === 0)).toBe(true);
    // The live lease was left alone.
    expect((await c.getJob(first.id, 'alice'))?.state).toBe('running');
  });

  it("leases run on the server's clock: an engine whose clock is off by minutes neither loses its lease early nor keeps it long", async () => {
    const [slow, fast, other] = await Promise.all([storage(), storage(), storage()]);
    sql(`UPDATE insitu_engine_jobs SET state = 'failed' WHERE state IN ('queued', 'running')`);
    const error = { code: 'INTERRUPTED', message: 'its engine stopped' } as const;
    const tenMinutes = 600_000;
    // An engine ten minutes behind takes a 60 s lease: by its clock it ends 9 minutes ago.
    const behind = job();
    await slow.insertJob(behind);
    const late = new Date(Date.now() - tenMinutes);
    expect((await slow.claimJob({ engine: 'slow-host:1:00000001', now: late, leaseUntil: new Date(late.getTime() + 60_000), maxRunning: 10 }))?.id).toBe(behind.id);
    // An engine ten minutes ahead takes a 300 ms lease: by its clock it ends in ten minutes.
    const ahead = job();
    await fast.insertJob(ahead);
    const early = new Date(Date.now() + tenMinutes);
    expect((await fast.claimJob({ engine: 'fast-host:1:00000002', now: early, leaseUntil: new Date(early.getTime() + 300), maxRunning: 10 }))?.id).toBe(ahead.id);
    expect(await other.recoverJobs({ now: new Date(), isDead: () => false, error })).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));
    expect(await other.recoverJobs({ now: new Date(), isDead: () => false, error })).toEqual([ahead.id]);
    expect((await other.getJob(behind.id, 'alice'))?.state).toBe('running');
    // A renewal extends the lease from the server's now as well: 300 ms more, then it is over.
    expect(await slow.renewLeases('slow-host:1:00000001', [behind.id], new Date(Date.now() + 300))).toEqual([]);
    expect(await other.recoverJobs({ now: new Date(), isDead: () => false, error })).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));
    expect(await other.recoverJobs({ now: new Date(), isDead: () => false, error })).toEqual([behind.id]);
  });

  it('a due schedule slot claimed by many engines at once fires exactly once, slot after slot', async () => {
    const engines = await Promise.all(Array.from({ length: 5 }, () => storage()));
    const t0 = Date.parse('2026-05-01T00:00:00Z');
    const added = await engines[0]!.insertSchedule({
      owner: 'alice',
      name: 'tick',
      call: '{}',
      schedule: '{"every":"1s"}',
      enabled: true,
      autoDrop: false,
      maxRuns: null,
      nextRun: new Date(t0),
      created: new Date(t0),
    });
    expect(added).toBe(true);
    for (let slot = 0; slot < 10; slot++) {
      const due = new Date(t0 + slot * 1000);
      // Every engine read the same due schedule (same revision) before any claimed it.
      const seen = await Promise.all(engines.map((s) => s.dueSchedules(due, 10)));
      expect(seen.every((d) => d.length === 1 && d[0]!.revision === slot)).toBe(true);
      const wins = await Promise.all(
        engines.map((s, i) =>
          s.claimRun(
            { owner: 'alice', name: 'tick', revision: seen[i]![0]!.revision, nextRun: new Date(due.getTime() + 1000), enabled: true, drop: false },
            { owner: 'alice', schedule: 'tick', trigger: 'schedule', due, claimed: new Date() },
          ),
        ),
      );
      expect(wins.filter((w) => w !== null)).toHaveLength(1);
    }
    const runs = await engines[1]!.listRuns({ owner: 'alice', schedule: 'tick', limit: 100 });
    expect(runs.map((r) => r.due!.getTime()).sort()).toEqual(Array.from({ length: 10 }, (_, i) => t0 + i * 1000));
    expect((await engines[2]!.getSchedule('alice', 'tick'))?.runCount).toBe(10);
    // The last slot drops the schedule: one engine deletes it, the others find nothing to claim.
    const last = (await engines[0]!.getSchedule('alice', 'tick'))!;
    const drops = await Promise.all(
      engines.map((s) =>
        s.claimRun(
          { owner: 'alice', name: 'tick', revision: last.revision, nextRun: null, enabled: false, drop: true },
          { owner: 'alice', schedule: 'tick', trigger: 'schedule', due: last.nextRun, claimed: new Date() },
        ),
      ),
    );
    expect(drops.filter((w) => w !== null)).toHaveLength(1);
    expect(await engines[3]!.getSchedule('alice', 'tick')).toBeNull();
  });
});

describe('an engine on PostgreSQL', () => {
  beforeAll(async () => {
    // It runs no jobs (maxConcurrentJobs 0), so the jobs put in its queue here stay for the test to lease;
    // it still recovers expired leases every poll.
    engine = await createEngine({ database: db.url, workers: 1, jobPollMs: 100, maxConcurrentJobs: 0 });
  });

  it('session.sql.register() is NOT_SUPPORTED, saying the SQL functions are SQLite only', async () => {
    const e = await rejectsWith(engine!.session({ user: 'alice' }).sql.register(), 'NOT_SUPPORTED');
    expect(e.message).toMatch(/not supported on PostgreSQL/);
    expect(e.message).toMatch(/SQLite/);
  });

  it('a lease held by an engine of another host is recovered only when it expires, even if that pid is free here', async () => {
    // A pid that certainly runs nothing on this host: a child that has exited.
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    const id = 'job-elsewhere';
    const s = opened[0]!;
    sql(`UPDATE insitu_engine_jobs SET state = 'failed' WHERE state IN ('queued', 'running')`);
    await s.insertJob({ ...job(), id });
    const leaseMs = 1500;
    const claimedAt = Date.now();
    const got = await s.claimJob({ engine: `another-host.example:${deadPid}:0123abcd`, now: new Date(), leaseUntil: new Date(claimedAt + leaseMs), maxRunning: 10 });
    expect(got?.id).toBe(id);
    // The engine polls every 100 ms: well before the lease ends, the job is still the other host's.
    await new Promise((r) => setTimeout(r, 600));
    expect((await s.getJob(id, 'alice'))?.state).toBe('running');
    for (let i = 0; i < 100 && (await s.getJob(id, 'alice'))?.state === 'running'; i++) await new Promise((r) => setTimeout(r, 100));
    const after = (await s.getJob(id, 'alice'))!;
    expect(after.state).toBe('failed');
    expect(after.error?.code).toBe('INTERRUPTED');
    expect(after.finished!.getTime()).toBeGreaterThanOrEqual(claimedAt + leaseMs);
    // The same dead pid under this host's own name (as the engine's id spells it) is known dead at once.
    const here = engine!.jobs.engineId.replace(/:\d+(\.\d+)?:[0-9a-f]{8}$/, '');
    await s.insertJob({ ...job(), id: 'job-here' });
    const t0 = Date.now();
    await s.claimJob({ engine: `${here}:${deadPid}:0123abcd`, now: new Date(), leaseUntil: new Date(t0 + 60_000), maxRunning: 10 });
    for (let i = 0; i < 100 && (await s.getJob('job-here', 'alice'))?.state === 'running'; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await s.getJob('job-here', 'alice'))?.state).toBe('failed');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('the insitu command takes the URL as --database, and prints it with the password masked', () => {
    const cliPath = fileURLToPath(new URL('../packages/insitu/dist/cli.js', import.meta.url));
    const url = new URL(db.url);
    url.password = 'pw-in-url';
    const run = (args: string[], input = '') => spawnSync(process.execPath, [cliPath, ...args, '--database', url.toString()], { input, encoding: 'utf8', timeout: 60_000 });
    const added = run(['users', 'add', 'dora'], 'a-long-password\n');
    expect(added.status, added.stderr).toBe(0);
    const listed = run(['users', 'ls', '--json']);
    expect(listed.status, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((u) => u.name)).toContain('dora');
    const dir = mkdtempSync(join(tmpdir(), 'insitu-pg-cli-'));
    try {
      writeFileSync(join(dir, 'hello.py'), 'def hello():\n    return 1\n');
      const queued = run(['run', join(dir, 'hello.py'), '--user', 'dora', '--async']);
      expect(queued.status, queued.stderr).toBe(0);
      expect(queued.stderr).toContain(`queued; it runs while an engine is open on ${url.toString().replace('pw-in-url', '***')}`);
      expect(`${queued.stdout}${queued.stderr}`).not.toContain('pw-in-url');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
