import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStorage } from '../dist/index.js';

// The job store's compare-and-set steps, on two connections to one file (as two engines have).
let dir: string;
let path: string;
let one: SqliteStorage;
let two: SqliteStorage;
const ERROR = { code: 'INTERRUPTED' as const, message: 'interrupted' };
const at = (ms: number) => new Date(ms);
const job = (id: string, extra: { owner?: string; retries?: number } = {}) => ({
  id,
  owner: extra.owner ?? 'alice',
  kind: 'doEval',
  func: 'f',
  call: '{"kind":"doEval","func":"f"}',
  origin: null,
  timeoutMs: 1000,
  retries: extra.retries ?? 0,
  created: at(1000),
});

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'insitu-jobs-'));
  path = join(dir, 'j.db');
  one = new SqliteStorage(path);
  two = new SqliteStorage(path);
});
afterAll(async () => {
  await one.close();
  await two.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SQLite job store', () => {
  it('claims each queued job once, in submission order, across connections, within maxRunning', async () => {
    for (const id of ['j1', 'j2', 'j3', 'j4']) await one.insertJob(job(id));
    const claim = (s: SqliteStorage, engine: string, maxRunning = 10) => s.claimJob({ engine, now: at(2000), leaseUntil: at(5000), maxRunning });
    const got = [await claim(one, 'A'), await claim(two, 'B'), await claim(one, 'A', 3), await claim(two, 'B', 3)];
    expect(got.map((j) => j?.id ?? null)).toEqual(['j1', 'j2', 'j3', null]);
    expect(got[1]).toMatchObject({ state: 'running', leaseOwner: 'B', attempts: 1 });
    expect((await one.getJob('j4', 'alice'))?.state).toBe('queued');
    // Outcomes only from the lease holder, once.
    expect(await two.finishJob('j1', 'B', { state: 'succeeded', finished: at(3000), progress: { partitionsDone: 1, partitionsTotal: 1, rowsDone: 0 } })).toBe(false);
    expect(await one.finishJob('j1', 'A', { state: 'succeeded', finished: at(3000), progress: { partitionsDone: 1, partitionsTotal: 1, rowsDone: 0 }, result: new Uint8Array([7]) })).toBe(true);
    expect(await one.finishJob('j1', 'A', { state: 'failed', finished: at(3000), progress: { partitionsDone: 1, partitionsTotal: 1, rowsDone: 0 } })).toBe(false);
    expect([...((await two.getJobResult('j1', 'alice')) ?? [])]).toEqual([7]);
    // Another owner sees nothing.
    expect(await two.getJob('j1', 'bob')).toBeNull();
    expect(await two.getJobResult('j1', 'bob')).toBeNull();
    expect(await two.cancelJob('j4', 'bob', ERROR, at(3000))).toBeNull();
    expect(await two.deleteJob('j4', 'bob')).toBe(false);
    expect((await two.listJobs({ owner: 'alice', limit: 10 })).map((j) => j.id)).toEqual(['j4', 'j3', 'j2', 'j1']);
  });

  it('renews only its own live leases and reports jobs to stop', async () => {
    expect(await one.renewLeases('A', ['j3'], at(9000))).toEqual([]);
    expect((await one.getJob('j3', 'alice'))?.leaseExpires?.getTime()).toBe(9000);
    expect(await one.renewLeases('A', ['j2'], at(9000))).toEqual(['j2']); // B holds it
    await two.cancelJob('j2', 'alice', ERROR, at(3000));
    expect((await two.getJob('j2', 'alice'))?.cancelRequested).toBe(true);
    expect(await two.renewLeases('B', ['j2'], at(9000))).toEqual(['j2']);
    const q = await two.cancelJob('j4', 'alice', { code: 'CANCELLED', message: 'c' }, at(3000));
    expect(q).toMatchObject({ state: 'cancelled', error: { code: 'CANCELLED' } });
  });

  it('recovers expired or dead leases (failed INTERRUPTED, or queued again with retries) and touches nothing else', async () => {
    await one.insertJob(job('r1', { retries: 1 }));
    await one.insertJob(job('r2'));
    const raw = new Database(path);
    raw.exec('CREATE TABLE keep (x); INSERT INTO keep VALUES (1);');
    raw.close();
    for (const e of ['C', 'D']) await one.claimJob({ engine: e, now: at(10_000), leaseUntil: at(20_000), maxRunning: 10 });
    // j2 (B) and j3 (A) expired at 9000; r1 (C), r2 (D) hold leases to 20000.
    const ended = await two.recoverJobs({ now: at(15_000), isDead: (e) => e === 'D', error: ERROR });
    expect(ended.sort()).toEqual(['j2', 'j3', 'r2']);
    expect((await one.getJob('r1', 'alice'))?.state).toBe('running');
    expect(await one.getJob('r2', 'alice')).toMatchObject({ state: 'failed', error: ERROR, leaseOwner: null });
    expect(await two.recoverJobs({ now: at(25_000), isDead: () => false, error: ERROR })).toEqual(['r1']);
    expect(await one.getJob('r1', 'alice')).toMatchObject({ state: 'queued', retries: 0, attempts: 1, started: null });
    const again = await one.claimJob({ engine: 'E', now: at(26_000), leaseUntil: at(30_000), maxRunning: 10 });
    expect(again).toMatchObject({ id: 'r1', attempts: 2 });
    const check = new Database(path, { readonly: true });
    expect(check.prepare('SELECT x FROM keep').pluck().all()).toEqual([1]);
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
  });

  it('purges finished jobs older than the cut, never live ones', async () => {
    const before = (await one.listJobs({ owner: 'alice', limit: 100 })).length;
    const n = await one.purgeJobs(at(4000));
    const left = await one.listJobs({ owner: 'alice', limit: 100 });
    expect(left.length).toBe(before - n);
    expect(left.every((j) => j.state === 'queued' || j.state === 'running' || (j.finished?.getTime() ?? 0) >= 4000)).toBe(true);
    expect(left.some((j) => j.state === 'running')).toBe(true);
  });
});
