import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskStorage } from '@insitu/core';
import { PgTaskStore, PG_TASK_MIGRATION, SqliteStorage } from '../dist/index.js';
import { PgDatabase } from '../dist/postgres/pg-database.js';
import { migrate } from '../dist/postgres/pg-migrations.js';
import { ON_POSTGRES, freshPostgresDatabase } from '../../../test/backend.js';

// The shared queue of distributed partitions, on two connections to one database (as two engines have):
// on a SQLite file in the sqlite project, on PostgreSQL in the postgres one.
let one: TaskStorage;
let two: TaskStorage;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  if (ON_POSTGRES) {
    const pg = freshPostgresDatabase();
    const a = new PgDatabase(pg.url);
    const b = new PgDatabase(pg.url);
    await migrate(a, [PG_TASK_MIGRATION]);
    one = new PgTaskStore(a);
    two = new PgTaskStore(b);
    cleanup = async () => {
      await Promise.all([a.close(), b.close()]);
      pg.drop();
    };
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'insitu-tasks-'));
    const a = new SqliteStorage(join(dir, 't.db'));
    const b = new SqliteStorage(join(dir, 't.db'));
    one = a.tasks;
    two = b.tasks;
    cleanup = async () => {
      await Promise.all([a.close(), b.close()]);
      rmSync(dir, { recursive: true, force: true });
    };
  }
});

afterAll(async () => cleanup?.());

const t0 = new Date(1_000_000);
const later = (ms: number) => new Date(t0.getTime() + ms);
const tasks = (call: string, n: number) => Array.from({ length: n }, (_, seq) => ({ call, seq, user: 'alice', spec: `{"seq":${seq}}` }));

describe('the distributed task queue', () => {
  it('gives each task to exactly one of two engines claiming at once, in order', async () => {
    await one.addTasks(tasks('c1', 20), t0);
    const claimed: { engine: string; seq: number }[] = [];
    const claimer = async (store: TaskStorage, engine: string) => {
      for (;;) {
        const t = await store.claimTask({ engine, now: t0, leaseUntil: later(10_000), staleBefore: t0, call: 'c1' });
        if (t === null) return;
        claimed.push({ engine, seq: t.seq });
        expect(t.attempts).toBe(1);
      }
    };
    await Promise.all([claimer(one, 'e1'), claimer(two, 'e2')]);
    expect(claimed.map((c) => c.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await one.dropCall('c1');
  });

  it('gives a task whose lease ran out to another engine, and only the holder may finish or renew it', async () => {
    await one.addTasks([{ call: 'c2', seq: 0, user: 'alice', spec: '{}', data: new Uint8Array([1, 2, 3]) }], t0);
    const first = await one.claimTask({ engine: 'dead', now: t0, leaseUntil: later(1000), staleBefore: t0 });
    expect(first?.data).toEqual(new Uint8Array([1, 2, 3]));
    expect(await two.claimTask({ engine: 'e2', now: later(500), leaseUntil: later(2000), staleBefore: t0 })).toBeNull();
    const again = await two.claimTask({ engine: 'e2', now: later(1500), leaseUntil: later(5000), staleBefore: t0 });
    expect(again?.seq).toBe(0);
    expect(again?.attempts).toBe(2);
    const ref = { call: 'c2', seq: 0 };
    expect(await one.renewTasks('dead', [ref], later(9000))).toEqual([ref]);
    expect(await one.finishTask(ref, 'dead', { result: new Uint8Array([9]) })).toBe(false);
    expect(await two.renewTasks('e2', [ref], later(9000))).toEqual([]);
    expect(await two.finishTask(ref, 'e2', { result: new Uint8Array([7]) })).toBe(true);
    const done = await one.takeFinished('c2');
    expect(done).toEqual([{ seq: 0, engine: 'e2', outcome: { result: new Uint8Array([7]) } }]);
    expect(await one.takeFinished('c2')).toEqual([]);
  });

  it('drops a cancelled call: its running tasks are no longer held, its queued ones are gone', async () => {
    await one.addTasks(tasks('c3', 3), t0);
    const t = await two.claimTask({ engine: 'e2', now: t0, leaseUntil: later(1000), staleBefore: t0, call: 'c3' });
    await one.dropCall('c3');
    expect(await two.renewTasks('e2', [{ call: 'c3', seq: t!.seq }], later(2000))).toHaveLength(1);
    expect(await two.claimTask({ engine: 'e2', now: t0, leaseUntil: later(1000), staleBefore: t0, call: 'c3' })).toBeNull();
    expect(await two.finishTask({ call: 'c3', seq: t!.seq }, 'e2', { error: { code: 'PYTHON_ERROR', message: 'x' } })).toBe(false);
  });

  it('queues again the tasks an engine gives back, and drops the tasks of a caller not seen for long', async () => {
    await one.addTasks(tasks('c4', 2), t0);
    const t = await one.claimTask({ engine: 'e1', now: t0, leaseUntil: later(60_000), staleBefore: t0, call: 'c4' });
    await one.releaseTasks('e1', [{ call: 'c4', seq: t!.seq }]);
    expect((await two.claimTask({ engine: 'e2', now: t0, leaseUntil: later(60_000), staleBefore: t0, call: 'c4' }))?.seq).toBe(t!.seq);
    await one.addTasks(tasks('old', 2), t0);
    await one.touchCall('c4', later(30_000));
    // 'old' was last seen at t0: not claimed once that is stale, and dropped with its call's rows.
    expect(await two.claimTask({ engine: 'e2', now: later(30_000), leaseUntil: later(90_000), staleBefore: later(10_000), call: 'old' })).toBeNull();
    expect(await two.dropStale(later(10_000))).toBe(2);
    expect((await two.claimTask({ engine: 'e2', now: later(30_000), leaseUntil: later(90_000), staleBefore: later(10_000), call: 'c4' }))?.seq).toBe(1 - t!.seq);
  });
});
