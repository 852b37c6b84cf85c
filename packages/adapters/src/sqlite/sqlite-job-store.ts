import type { JobOutcome, JobState, JobStorage, NewJob, SerializedError, StoredJob, StoredJobProgress } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';
import { dateOf } from './sqlite-times.js';

interface JobRow {
  id: string;
  owner: string;
  kind: string;
  func: string;
  call: string;
  origin: string | null;
  state: JobState;
  created: number;
  started: number | null;
  finished: number | null;
  timeout_ms: number;
  retries: number;
  attempts: number;
  lease_owner: string | null;
  lease_expires: number | null;
  cancel_requested: number;
  partitions_done: number;
  partitions_total: number | null;
  rows_done: number;
  error: string | null;
}

/** Every column but the result. */
const COLUMNS = `id, owner, kind, func, call, origin, state, created, started, finished, timeout_ms, retries, attempts,
  lease_owner, lease_expires, cancel_requested, partitions_done, partitions_total, rows_done, error`;


function fromRow(r: JobRow): StoredJob {
  return {
    id: r.id,
    owner: r.owner,
    kind: r.kind,
    func: r.func,
    call: r.call,
    origin: r.origin,
    state: r.state,
    created: new Date(r.created),
    started: dateOf(r.started),
    finished: dateOf(r.finished),
    timeoutMs: r.timeout_ms,
    retries: r.retries,
    attempts: r.attempts,
    leaseOwner: r.lease_owner,
    leaseExpires: dateOf(r.lease_expires),
    cancelRequested: r.cancel_requested === 1,
    progress: { partitionsDone: r.partitions_done, partitionsTotal: r.partitions_total, rowsDone: r.rows_done },
    error: r.error === null ? null : (JSON.parse(r.error) as SerializedError),
  };
}

/**
 * Jobs in the `insitu_engine_jobs` table. Claims, recovery and outcomes are compare-and-set updates inside
 * IMMEDIATE transactions, so two engines on one file never both run, or both end, one job.
 */
export class SqliteJobStore implements JobStorage {
  readonly #db: BetterSqlite3.Database;

  /** Use the given (migrated) connection. */
  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
  }

  /** @inheritdoc */
  async insertJob(j: NewJob): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO insitu_engine_jobs (id, owner, kind, func, call, origin, state, created, timeout_ms, retries)
         VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
      )
      .run(j.id, j.owner, j.kind, j.func, j.call, j.origin, j.created.getTime(), j.timeoutMs, j.retries);
  }

  /** @inheritdoc */
  async getJob(id: string, owner: string): Promise<StoredJob | null> {
    const row = this.#db.prepare(`SELECT ${COLUMNS} FROM insitu_engine_jobs WHERE id = ? AND owner = ?`).get(id, owner) as JobRow | undefined;
    return row === undefined ? null : fromRow(row);
  }

  /** @inheritdoc */
  async listJobs(f: { owner: string; state?: JobState; limit: number }): Promise<StoredJob[]> {
    const rows =
      f.state === undefined
        ? this.#db.prepare(`SELECT ${COLUMNS} FROM insitu_engine_jobs WHERE owner = ? ORDER BY seq DESC LIMIT ?`).all(f.owner, f.limit)
        : this.#db.prepare(`SELECT ${COLUMNS} FROM insitu_engine_jobs WHERE owner = ? AND state = ? ORDER BY seq DESC LIMIT ?`).all(f.owner, f.state, f.limit);
    return (rows as JobRow[]).map(fromRow);
  }

  /** @inheritdoc */
  async getJobResult(id: string, owner: string): Promise<Uint8Array | null> {
    const b = this.#db.prepare(`SELECT result FROM insitu_engine_jobs WHERE id = ? AND owner = ? AND state = 'succeeded'`).pluck().get(id, owner) as
      | Buffer
      | null
      | undefined;
    return b === undefined || b === null ? null : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }

  /** @inheritdoc */
  async claimJob(c: { engine: string; now: Date; leaseUntil: Date; maxRunning: number }): Promise<StoredJob | null> {
    const db = this.#db;
    // Engines poll: look without the write lock first, so an idle queue never takes it.
    if (db.prepare(`SELECT 1 FROM insitu_engine_jobs WHERE state = 'queued' LIMIT 1`).get() === undefined) return null;
    return db.transaction((): StoredJob | null => {
      const running = db.prepare(`SELECT count(*) FROM insitu_engine_jobs WHERE state = 'running'`).pluck().get() as number;
      if (running >= c.maxRunning) return null;
      const id = db.prepare(`SELECT id FROM insitu_engine_jobs WHERE state = 'queued' ORDER BY seq LIMIT 1`).pluck().get() as string | undefined;
      if (id === undefined) return null;
      // Started now, inside the claim (not when the engine asked, before waiting for the write lock):
      // so a job never seems to start before the run whose end freed its slot.
      const started = Math.max(c.now.getTime(), Date.now());
      const changed = db
        .prepare(
          `UPDATE insitu_engine_jobs SET state = 'running', started = ?, attempts = attempts + 1, lease_owner = ?, lease_expires = ?,
             cancel_requested = 0, partitions_done = 0, partitions_total = NULL, rows_done = 0
           WHERE id = ? AND state = 'queued'`,
        )
        .run(started, c.engine, c.leaseUntil.getTime(), id).changes;
      if (changed === 0) return null;
      return fromRow(db.prepare(`SELECT ${COLUMNS} FROM insitu_engine_jobs WHERE id = ?`).get(id) as JobRow);
    }).immediate();
  }

  /** @inheritdoc */
  async renewLeases(engine: string, ids: readonly string[], until: Date): Promise<string[]> {
    const db = this.#db;
    return db.transaction((): string[] => {
      const stop: string[] = [];
      const renew = db.prepare(`UPDATE insitu_engine_jobs SET lease_expires = ? WHERE id = ? AND state = 'running' AND lease_owner = ?`);
      const cancelled = db.prepare(`SELECT cancel_requested FROM insitu_engine_jobs WHERE id = ?`).pluck();
      for (const id of ids) {
        if (renew.run(until.getTime(), id, engine).changes === 0 || cancelled.get(id) === 1) stop.push(id);
      }
      return stop;
    }).immediate();
  }

  /** @inheritdoc */
  async updateJobProgress(id: string, engine: string, p: StoredJobProgress): Promise<void> {
    this.#db
      .prepare(
        `UPDATE insitu_engine_jobs SET partitions_done = ?, partitions_total = ?, rows_done = ? WHERE id = ? AND state = 'running' AND lease_owner = ?`,
      )
      .run(p.partitionsDone, p.partitionsTotal, p.rowsDone, id, engine);
  }

  /** @inheritdoc */
  async finishJob(id: string, engine: string, o: JobOutcome): Promise<boolean> {
    const result = o.result === undefined ? null : Buffer.from(o.result.buffer, o.result.byteOffset, o.result.byteLength);
    return (
      this.#db
        .prepare(
          `UPDATE insitu_engine_jobs SET state = ?, finished = ?, partitions_done = ?, partitions_total = ?, rows_done = ?, error = ?, result = ?,
             lease_owner = NULL, lease_expires = NULL
           WHERE id = ? AND state = 'running' AND lease_owner = ?`,
        )
        .run(
          o.state,
          o.finished.getTime(),
          o.progress.partitionsDone,
          o.progress.partitionsTotal,
          o.progress.rowsDone,
          o.error === undefined ? null : JSON.stringify(o.error),
          result,
          id,
          engine,
        ).changes > 0
    );
  }

  /** @inheritdoc */
  async requeueJob(id: string, engine: string): Promise<boolean> {
    return (
      this.#db
        .prepare(
          `UPDATE insitu_engine_jobs SET state = 'queued', retries = retries - 1, started = NULL, lease_owner = NULL, lease_expires = NULL
           WHERE id = ? AND state = 'running' AND lease_owner = ? AND retries > 0`,
        )
        .run(id, engine).changes > 0
    );
  }

  /** @inheritdoc */
  async cancelJob(id: string, owner: string, error: SerializedError, now: Date): Promise<StoredJob | null> {
    const db = this.#db;
    return db.transaction((): StoredJob | null => {
      db.prepare(`UPDATE insitu_engine_jobs SET state = 'cancelled', finished = ?, error = ? WHERE id = ? AND owner = ? AND state = 'queued'`).run(
        now.getTime(),
        JSON.stringify(error),
        id,
        owner,
      );
      db.prepare(`UPDATE insitu_engine_jobs SET cancel_requested = 1 WHERE id = ? AND owner = ? AND state = 'running'`).run(id, owner);
      const row = db.prepare(`SELECT ${COLUMNS} FROM insitu_engine_jobs WHERE id = ? AND owner = ?`).get(id, owner) as JobRow | undefined;
      return row === undefined ? null : fromRow(row);
    }).immediate();
  }

  /** @inheritdoc */
  async recoverJobs(o: { now: Date; isDead: (engine: string) => boolean; error: SerializedError }): Promise<string[]> {
    const db = this.#db;
    const runningJobs = () =>
      db.prepare(`SELECT id, lease_owner, lease_expires, retries FROM insitu_engine_jobs WHERE state = 'running'`).all() as {
        id: string;
        lease_owner: string | null;
        lease_expires: number | null;
        retries: number;
      }[];
    const due = (j: { lease_owner: string | null; lease_expires: number | null }) =>
      j.lease_expires === null || j.lease_expires < o.now.getTime() || (j.lease_owner !== null && o.isDead(j.lease_owner));
    // Engines poll: look without the write lock first, so healthy leases never take it.
    if (!runningJobs().some(due)) return [];
    return db.transaction((): string[] => {
      const running = runningJobs();
      const ended: string[] = [];
      const requeue = db.prepare(
        `UPDATE insitu_engine_jobs SET state = 'queued', retries = retries - 1, started = NULL, lease_owner = NULL, lease_expires = NULL WHERE id = ? AND state = 'running'`,
      );
      const fail = db.prepare(
        `UPDATE insitu_engine_jobs SET state = 'failed', finished = ?, error = ?, lease_owner = NULL, lease_expires = NULL WHERE id = ? AND state = 'running'`,
      );
      for (const j of running) {
        if (!due(j)) continue;
        if (j.retries > 0) requeue.run(j.id);
        else fail.run(o.now.getTime(), JSON.stringify(o.error), j.id);
        ended.push(j.id);
      }
      return ended;
    }).immediate();
  }

  /** @inheritdoc */
  async deleteJob(id: string, owner: string): Promise<boolean> {
    return this.#db.prepare(`DELETE FROM insitu_engine_jobs WHERE id = ? AND owner = ?`).run(id, owner).changes > 0;
  }

  /** @inheritdoc */
  async purgeJobs(before: Date): Promise<number> {
    // Look first: an engine opening a file with nothing to purge writes nothing.
    const some = this.#db.prepare(`SELECT 1 FROM insitu_engine_jobs WHERE state NOT IN ('queued', 'running') AND finished < ? LIMIT 1`).get(before.getTime());
    if (some === undefined) return 0;
    return this.#db
      .prepare(`DELETE FROM insitu_engine_jobs WHERE state NOT IN ('queued', 'running') AND finished < ?`)
      .run(before.getTime()).changes;
  }
}
