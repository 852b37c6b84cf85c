import type { ClaimedTask, FinishedTask, NewTask, SerializedError, TaskRef, TaskResult, TaskStorage } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';

interface TaskRow {
  call: string;
  seq: number;
  user_name: string;
  spec: string;
  data: Buffer | null;
  attempts: number;
}

/**
 * The queue of distributed partitions in `insitu_engine_tasks` of one SQLite file: several processes on
 * the file share it. A claim is one IMMEDIATE transaction (SQLite's write lock makes it exclusive);
 * writes go through `write`, which waits for the lock like the engine's other writes.
 */
export class SqliteTaskStore implements TaskStorage {
  readonly #db: BetterSqlite3.Database;
  readonly #write: <T>(w: () => T) => Promise<T>;

  constructor(db: BetterSqlite3.Database, write: <T>(w: () => T) => Promise<T>) {
    this.#db = db;
    this.#write = write;
  }

  /** @inheritdoc */
  addTasks(tasks: readonly NewTask[], now: Date): Promise<void> {
    const db = this.#db;
    return this.#write(() =>
      db.transaction(() => {
        const insert = db.prepare(`INSERT INTO insitu_engine_tasks (call, seq, user_name, spec, data, caller_seen) VALUES (?, ?, ?, ?, ?, ?)`);
        for (const t of tasks) {
          insert.run(t.call, t.seq, t.user, t.spec, t.data === undefined ? null : Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), now.getTime());
        }
      }).immediate(),
    );
  }

  /** @inheritdoc */
  touchCall(call: string, now: Date): Promise<void> {
    return this.#write(() => {
      this.#db.prepare(`UPDATE insitu_engine_tasks SET caller_seen = ? WHERE call = ?`).run(now.getTime(), call);
    });
  }

  /** @inheritdoc */
  releaseTasks(engine: string, tasks: readonly TaskRef[]): Promise<void> {
    const db = this.#db;
    return this.#write(() =>
      db.transaction(() => {
        const release = db.prepare(`UPDATE insitu_engine_tasks SET state = 'queued', lease_owner = NULL, lease_expires = NULL WHERE call = ? AND seq = ? AND state = 'running' AND lease_owner = ?`);
        for (const t of tasks) release.run(t.call, t.seq, engine);
      }).immediate(),
    );
  }

  /** @inheritdoc */
  dropStale(before: Date): Promise<number> {
    return this.#write(() => this.#db.prepare(`DELETE FROM insitu_engine_tasks WHERE caller_seen < ?`).run(before.getTime()).changes);
  }

  /** @inheritdoc */
  async claimTask(c: { engine: string; now: Date; leaseUntil: Date; staleBefore: Date; call?: string }): Promise<ClaimedTask | null> {
    const db = this.#db;
    const now = c.now.getTime();
    const open = `(state = 'queued' OR (state = 'running' AND lease_expires < ?)) AND caller_seen >= ?${c.call === undefined ? '' : ' AND call = ?'}`;
    const params: unknown[] = c.call === undefined ? [now, c.staleBefore.getTime()] : [now, c.staleBefore.getTime(), c.call];
    // Idle engines poll: look without the write lock first.
    if (db.prepare(`SELECT 1 FROM insitu_engine_tasks WHERE ${open} LIMIT 1`).get(...params) === undefined) return null;
    return this.#write(() =>
      db.transaction((): ClaimedTask | null => {
        const row = db.prepare(`SELECT rowid AS id, call, seq, user_name, spec, data, attempts FROM insitu_engine_tasks WHERE ${open} ORDER BY rowid LIMIT 1`).get(...params) as
          | (TaskRow & { id: number })
          | undefined;
        if (row === undefined) return null;
        db.prepare(`UPDATE insitu_engine_tasks SET state = 'running', lease_owner = ?, lease_expires = ?, attempts = attempts + 1 WHERE rowid = ?`).run(
          c.engine,
          c.leaseUntil.getTime(),
          row.id,
        );
        return {
          call: row.call,
          seq: row.seq,
          user: row.user_name,
          spec: row.spec,
          data: row.data === null ? null : new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength),
          attempts: row.attempts + 1,
        };
      }).immediate(),
    );
  }

  /** @inheritdoc */
  renewTasks(engine: string, tasks: readonly TaskRef[], until: Date): Promise<TaskRef[]> {
    const db = this.#db;
    return this.#write(() =>
      db.transaction((): TaskRef[] => {
        const renew = db.prepare(`UPDATE insitu_engine_tasks SET lease_expires = ? WHERE call = ? AND seq = ? AND state = 'running' AND lease_owner = ?`);
        return tasks.filter((t) => renew.run(until.getTime(), t.call, t.seq, engine).changes === 0);
      }).immediate(),
    );
  }

  /** @inheritdoc */
  finishTask(task: TaskRef, engine: string, outcome: TaskResult): Promise<boolean> {
    const db = this.#db;
    const result = 'result' in outcome ? Buffer.from(outcome.result.buffer, outcome.result.byteOffset, outcome.result.byteLength) : null;
    const error = 'error' in outcome ? JSON.stringify(outcome.error) : null;
    return this.#write(
      () =>
        db
          .prepare(
            `UPDATE insitu_engine_tasks SET state = 'done', engine = ?, result = ?, error = ?, data = NULL, lease_owner = NULL
             WHERE call = ? AND seq = ? AND state = 'running' AND lease_owner = ?`,
          )
          .run(engine, result, error, task.call, task.seq, engine).changes > 0,
    );
  }

  /** @inheritdoc */
  async takeFinished(call: string): Promise<FinishedTask[]> {
    const db = this.#db;
    if (db.prepare(`SELECT 1 FROM insitu_engine_tasks WHERE call = ? AND state = 'done' LIMIT 1`).get(call) === undefined) return [];
    return this.#write(() =>
      db.transaction((): FinishedTask[] => {
        const rows = db.prepare(`SELECT seq, engine, result, error FROM insitu_engine_tasks WHERE call = ? AND state = 'done' ORDER BY seq`).all(call) as {
          seq: number;
          engine: string;
          result: Buffer | null;
          error: string | null;
        }[];
        db.prepare(`DELETE FROM insitu_engine_tasks WHERE call = ? AND state = 'done'`).run(call);
        return rows.map((r) => ({
          seq: r.seq,
          engine: r.engine,
          outcome: r.error !== null ? { error: JSON.parse(r.error) as SerializedError } : { result: new Uint8Array(r.result!.buffer, r.result!.byteOffset, r.result!.byteLength) },
        }));
      }).immediate(),
    );
  }

  /** @inheritdoc */
  dropCall(call: string): Promise<void> {
    return this.#write(() => {
      this.#db.prepare(`DELETE FROM insitu_engine_tasks WHERE call = ?`).run(call);
    });
  }
}
