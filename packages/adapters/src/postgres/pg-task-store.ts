import type { ClaimedTask, FinishedTask, NewTask, SerializedError, TaskRef, TaskResult, TaskStorage } from '@insitu/core';
import type { PgDatabase } from './pg-database.js';
import type { PgMigration } from './pg-migrations.js';

/** The table of the distributed partitions' queue (see {@link PgTaskStore}). */
export const PG_TASK_MIGRATION: PgMigration = {
  id: '003-distributed-tasks',
  sql: `CREATE TABLE insitu_engine_tasks (
          id            BIGSERIAL PRIMARY KEY,
          call          TEXT NOT NULL,
          seq           INTEGER NOT NULL,
          user_name     TEXT NOT NULL,
          spec          TEXT NOT NULL,
          data          BYTEA,
          state         TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done')),
          lease_owner   TEXT,
          lease_expires TIMESTAMPTZ,
          attempts      INTEGER NOT NULL DEFAULT 0,
          engine        TEXT,
          result        BYTEA,
          error         TEXT,
          caller_seen   TIMESTAMPTZ NOT NULL,
          UNIQUE (call, seq)
        );
        CREATE INDEX insitu_engine_tasks_open ON insitu_engine_tasks (id) WHERE state <> 'done';
        CREATE INDEX insitu_engine_tasks_seen ON insitu_engine_tasks (caller_seen);`,
};

type TaskRow = {
  call: string;
  seq: number;
  user_name: string;
  spec: string;
  data: Buffer | null;
  attempts: number;
};

function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * The queue of distributed partitions in `insitu_engine_tasks`, shared by every engine on the database.
 * A claim takes the first open task with `FOR UPDATE SKIP LOCKED`, so engines claiming at once never wait
 * on each other and never get the same task; a running task whose lease expired is open again.
 */
export class PgTaskStore implements TaskStorage {
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
  }

  /** @inheritdoc */
  async addTasks(tasks: readonly NewTask[], now: Date): Promise<void> {
    for (const t of tasks) {
      await this.#db.query(`INSERT INTO insitu_engine_tasks (call, seq, user_name, spec, data, caller_seen) VALUES ($1, $2, $3, $4, $5, $6)`, [
        t.call,
        t.seq,
        t.user,
        t.spec,
        t.data === undefined ? null : Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
        now,
      ]);
    }
  }

  /** @inheritdoc */
  async touchCall(call: string, now: Date): Promise<void> {
    await this.#db.query(`UPDATE insitu_engine_tasks SET caller_seen = $1 WHERE call = $2`, [now, call]);
  }

  /** @inheritdoc */
  async releaseTasks(engine: string, tasks: readonly TaskRef[]): Promise<void> {
    if (tasks.length === 0) return;
    await this.#db.query(
      `UPDATE insitu_engine_tasks SET state = 'queued', lease_owner = NULL, lease_expires = NULL
       WHERE state = 'running' AND lease_owner = $1 AND (call, seq) IN (SELECT * FROM unnest($2::text[], $3::int[]))`,
      [engine, tasks.map((t) => t.call), tasks.map((t) => t.seq)],
    );
  }

  /** @inheritdoc */
  async dropStale(before: Date): Promise<number> {
    return (await this.#db.query(`DELETE FROM insitu_engine_tasks WHERE caller_seen < $1 RETURNING seq`, [before])).length;
  }

  /** @inheritdoc */
  async claimTask(c: { engine: string; now: Date; leaseUntil: Date; staleBefore: Date; call?: string }): Promise<ClaimedTask | null> {
    const rows = await this.#db.query<TaskRow>(
      `UPDATE insitu_engine_tasks t SET state = 'running', lease_owner = $1, lease_expires = $2, attempts = t.attempts + 1
       FROM (SELECT id FROM insitu_engine_tasks
             WHERE (state = 'queued' OR (state = 'running' AND lease_expires < $3)) AND caller_seen >= $5 AND ($4::text IS NULL OR call = $4)
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) pick
       WHERE t.id = pick.id
       RETURNING t.call, t.seq, t.user_name, t.spec, t.data, t.attempts`,
      [c.engine, c.leaseUntil, c.now, c.call ?? null, c.staleBefore],
    );
    const r = rows[0];
    if (r === undefined) return null;
    return { call: r.call, seq: r.seq, user: r.user_name, spec: r.spec, data: r.data === null ? null : bytes(r.data), attempts: r.attempts };
  }

  /** @inheritdoc */
  async renewTasks(engine: string, tasks: readonly TaskRef[], until: Date): Promise<TaskRef[]> {
    if (tasks.length === 0) return [];
    const held = await this.#db.query<{ call: string; seq: number }>(
      `UPDATE insitu_engine_tasks SET lease_expires = $1
       WHERE state = 'running' AND lease_owner = $2 AND (call, seq) IN (SELECT * FROM unnest($3::text[], $4::int[]))
       RETURNING call, seq`,
      [until, engine, tasks.map((t) => t.call), tasks.map((t) => t.seq)],
    );
    const kept = new Set(held.map((h) => `${h.call}/${h.seq}`));
    return tasks.filter((t) => !kept.has(`${t.call}/${t.seq}`));
  }

  /** @inheritdoc */
  async finishTask(task: TaskRef, engine: string, outcome: TaskResult): Promise<boolean> {
    const result = 'result' in outcome ? Buffer.from(outcome.result.buffer, outcome.result.byteOffset, outcome.result.byteLength) : null;
    const error = 'error' in outcome ? JSON.stringify(outcome.error) : null;
    const rows = await this.#db.query(
      `UPDATE insitu_engine_tasks SET state = 'done', engine = $1, result = $2, error = $3, data = NULL, lease_owner = NULL
       WHERE call = $4 AND seq = $5 AND state = 'running' AND lease_owner = $1 RETURNING seq`,
      [engine, result, error, task.call, task.seq],
    );
    return rows.length > 0;
  }

  /** @inheritdoc */
  async takeFinished(call: string): Promise<FinishedTask[]> {
    const rows = await this.#db.query<{ seq: number; engine: string; result: Buffer | null; error: string | null }>(
      `DELETE FROM insitu_engine_tasks WHERE call = $1 AND state = 'done' RETURNING seq, engine, result, error`,
      [call],
    );
    return rows
      .sort((a, b) => a.seq - b.seq)
      .map((r) => ({
        seq: r.seq,
        engine: r.engine,
        outcome: r.error !== null ? { error: JSON.parse(r.error) as SerializedError } : { result: bytes(r.result!) },
      }));
  }

  /** @inheritdoc */
  async dropCall(call: string): Promise<void> {
    await this.#db.query(`DELETE FROM insitu_engine_tasks WHERE call = $1`, [call]);
  }
}
