import type { JobOutcome, JobState, JobStorage, NewJob, SerializedError, StoredJob, StoredJobProgress } from '@insitu/core';
import type { PgDatabase } from './pg-database.js';
import { bufferOf, bytesOf, num, numOrNull } from './pg-row-values.js';

type JobRow = {
  id: string;
  owner: string;
  kind: string;
  func: string;
  call: string;
  origin: string | null;
  state: JobState;
  created: Date;
  started: Date | null;
  finished: Date | null;
  timeout_ms: string;
  retries: number;
  attempts: number;
  lease_owner: string | null;
  lease_expires: Date | null;
  cancel_requested: boolean;
  partitions_done: string;
  partitions_total: string | null;
  rows_done: string;
  error: string | null;
};

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
    created: r.created,
    started: r.started,
    finished: r.finished,
    timeoutMs: num(r.timeout_ms),
    retries: r.retries,
    attempts: r.attempts,
    leaseOwner: r.lease_owner,
    leaseExpires: r.lease_expires,
    cancelRequested: r.cancel_requested,
    progress: { partitionsDone: num(r.partitions_done), partitionsTotal: numOrNull(r.partitions_total), rowsDone: num(r.rows_done) },
    error: r.error === null ? null : (JSON.parse(r.error) as SerializedError),
  };
}

/**
 * Lease expiries are kept in the database server's clock, so that engines on machines whose clocks
 * disagree still agree on when a lease ends: an engine's `until` is turned into a duration from its own
 * clock's now (`$n` milliseconds) and added to the server's `clock_timestamp()`; a lease is expired when
 * the server's clock passes it.
 */
const SERVER_LEASE = (param: string) => `clock_timestamp() + ${param}::float8 * interval '1 millisecond'`;

/**
 * Key of the transaction-level advisory lock every claim takes ("insitu jobs" folded into 48 bits). See
 * {@link PgJobStore.claimJob}.
 */
const CLAIM_LOCK = 0x6a6f62736c6b;

/**
 * Jobs in the `insitu_engine_jobs` table, shared by every engine on the database. Claims, recovery and
 * outcomes are compare-and-set updates on the job's state and lease holder, so two engines never both
 * run, or both end, one job.
 */
export class PgJobStore implements JobStorage {
  readonly #db: PgDatabase;

  /** Use the given (migrated) database. */
  constructor(db: PgDatabase) {
    this.#db = db;
  }

  /** @inheritdoc */
  async insertJob(j: NewJob): Promise<void> {
    await this.#db.query(
      `INSERT INTO insitu_engine_jobs (id, owner, kind, func, call, origin, state, created, timeout_ms, retries)
       VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9)`,
      [j.id, j.owner, j.kind, j.func, j.call, j.origin, j.created, j.timeoutMs, j.retries],
    );
  }

  /** @inheritdoc */
  async getJob(id: string, owner: string): Promise<StoredJob | null> {
    const [row] = await this.#db.query<JobRow>(`SELECT ${COLUMNS} FROM insitu_engine_jobs WHERE id = $1 AND owner = $2`, [id, owner]);
    return row === undefined ? null : fromRow(row);
  }

  /** @inheritdoc */
  async listJobs(f: { owner: string; state?: JobState; limit: number }): Promise<StoredJob[]> {
    const rows =
      f.state === undefined
        ? await this.#db.query<JobRow>(`SELECT ${COLUMNS} FROM insitu_engine_jobs WHERE owner = $1 ORDER BY seq DESC LIMIT $2`, [f.owner, f.limit])
        : await this.#db.query<JobRow>(`SELECT ${COLUMNS} FROM insitu_engine_jobs WHERE owner = $1 AND state = $2 ORDER BY seq DESC LIMIT $3`, [
            f.owner,
            f.state,
            f.limit,
          ]);
    return rows.map(fromRow);
  }

  /** @inheritdoc */
  async getJobResult(id: string, owner: string): Promise<Uint8Array | null> {
    const [row] = await this.#db.query<{ result: Buffer | null }>(
      `SELECT result FROM insitu_engine_jobs WHERE id = $1 AND owner = $2 AND state = 'succeeded'`,
      [id, owner],
    );
    return row === undefined || row.result === null ? null : bytesOf(row.result);
  }

  /**
   * @inheritdoc
   * `maxRunning` counts the jobs running in every engine, so counting and claiming must not interleave
   * between engines: two claimers that both count n-1 running would both claim. Every claim therefore
   * takes one transaction-level advisory lock first (held to its commit, so the next claimer's count,
   * read after it gets the lock, sees this claim). That is cheaper than SERIALIZABLE, which would make the
   * losers of every race fail and retry, and claims are short (three statements). The job itself is
   * picked with `FOR UPDATE SKIP LOCKED`: a row locked by a cancel or a delete in progress is passed over,
   * never waited for, and the UPDATE's `state = 'queued'` check makes the claim a compare-and-set.
   */
  async claimJob(c: { engine: string; now: Date; leaseUntil: Date; maxRunning: number }): Promise<StoredJob | null> {
    // Engines poll: look without a lock first, so an idle queue costs one indexed read.
    if (c.maxRunning < 1) return null;
    if ((await this.#db.query(`SELECT 1 FROM insitu_engine_jobs WHERE state = 'queued' LIMIT 1`)).length === 0) return null;
    return this.#db.tx(async (client): Promise<StoredJob | null> => {
      await client.query(`SELECT pg_advisory_xact_lock($1)`, [CLAIM_LOCK]);
      const running = num((await client.query<{ n: string }>(`SELECT count(*) AS n FROM insitu_engine_jobs WHERE state = 'running'`)).rows[0]!.n);
      if (running >= c.maxRunning) return null;
      const next = (
        await client.query<{ id: string }>(`SELECT id FROM insitu_engine_jobs WHERE state = 'queued' ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED`)
      ).rows[0];
      if (next === undefined) return null;
      const [row] = (
        await client.query<JobRow>(
          `UPDATE insitu_engine_jobs SET state = 'running', started = $1, attempts = attempts + 1, lease_owner = $2, lease_expires = ${SERVER_LEASE('$3')},
             cancel_requested = false, partitions_done = 0, partitions_total = NULL, rows_done = 0
           WHERE id = $4 AND state = 'queued' RETURNING ${COLUMNS}`,
          [c.now, c.engine, c.leaseUntil.getTime() - c.now.getTime(), next.id],
        )
      ).rows;
      return row === undefined ? null : fromRow(row);
    });
  }

  /** @inheritdoc One statement: the leases still held are extended, the others reported. */
  async renewLeases(engine: string, ids: readonly string[], until: Date): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.#db.query<{ id: string; cancel_requested: boolean }>(
      `UPDATE insitu_engine_jobs SET lease_expires = ${SERVER_LEASE('$1')} WHERE id = ANY($2::text[]) AND state = 'running' AND lease_owner = $3
       RETURNING id, cancel_requested`,
      [until.getTime() - Date.now(), ids, engine],
    );
    const held = new Map(rows.map((r) => [r.id, r.cancel_requested]));
    return ids.filter((id) => held.get(id) !== false);
  }

  /** @inheritdoc */
  async updateJobProgress(id: string, engine: string, p: StoredJobProgress): Promise<void> {
    await this.#db.query(
      `UPDATE insitu_engine_jobs SET partitions_done = $1, partitions_total = $2, rows_done = $3 WHERE id = $4 AND state = 'running' AND lease_owner = $5`,
      [p.partitionsDone, p.partitionsTotal, p.rowsDone, id, engine],
    );
  }

  /** @inheritdoc Only the lease holder's outcome is recorded: a compare-and-set on state and lease. */
  async finishJob(id: string, engine: string, o: JobOutcome): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE insitu_engine_jobs SET state = $1, finished = $2, partitions_done = $3, partitions_total = $4, rows_done = $5, error = $6, result = $7,
         lease_owner = NULL, lease_expires = NULL
       WHERE id = $8 AND state = 'running' AND lease_owner = $9 RETURNING 1`,
      [
        o.state,
        o.finished,
        o.progress.partitionsDone,
        o.progress.partitionsTotal,
        o.progress.rowsDone,
        o.error === undefined ? null : JSON.stringify(o.error),
        o.result === undefined ? null : bufferOf(o.result),
        id,
        engine,
      ],
    );
    return rows.length > 0;
  }

  /** @inheritdoc */
  async requeueJob(id: string, engine: string): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE insitu_engine_jobs SET state = 'queued', retries = retries - 1, started = NULL, lease_owner = NULL, lease_expires = NULL
       WHERE id = $1 AND state = 'running' AND lease_owner = $2 AND retries > 0 RETURNING 1`,
      [id, engine],
    );
    return rows.length > 0;
  }

  /** @inheritdoc */
  cancelJob(id: string, owner: string, error: SerializedError, now: Date): Promise<StoredJob | null> {
    return this.#db.tx(async (c): Promise<StoredJob | null> => {
      await c.query(`UPDATE insitu_engine_jobs SET state = 'cancelled', finished = $1, error = $2 WHERE id = $3 AND owner = $4 AND state = 'queued'`, [
        now,
        JSON.stringify(error),
        id,
        owner,
      ]);
      await c.query(`UPDATE insitu_engine_jobs SET cancel_requested = true WHERE id = $1 AND owner = $2 AND state = 'running'`, [id, owner]);
      const [row] = (await c.query<JobRow>(`SELECT ${COLUMNS} FROM insitu_engine_jobs WHERE id = $1 AND owner = $2`, [id, owner])).rows;
      return row === undefined ? null : fromRow(row);
    });
  }

  /**
   * @inheritdoc
   * A lease is expired when the server's clock passes it (see SERVER_LEASE), whatever this engine's
   * clock says. The running jobs are read `FOR UPDATE SKIP LOCKED`: two engines recovering at once each end a
   * disjoint set (a row another recoverer or a lease renewal holds is left to the next poll), and a row
   * re-read after a concurrent change is re-checked against `state = 'running'`, so each expired lease
   * is ended exactly once.
   */
  async recoverJobs(o: { now: Date; isDead: (engine: string) => boolean; error: SerializedError }): Promise<string[]> {
    type Running = { id: string; lease_owner: string | null; expired: boolean; retries: number };
    const due = (j: Running) => j.expired || (j.lease_owner !== null && o.isDead(j.lease_owner));
    // Expired by the server's clock (moved by however far `now` is from this engine's clock).
    const sql = `SELECT id, lease_owner, retries, (lease_expires IS NULL OR lease_expires < ${SERVER_LEASE('$1')}) AS expired
      FROM insitu_engine_jobs WHERE state = 'running'`;
    const ahead = o.now.getTime() - Date.now();
    // Engines poll: look without locks first, so healthy leases are never locked.
    if (!(await this.#db.query<Running>(sql, [ahead])).some(due)) return [];
    return this.#db.tx(async (c): Promise<string[]> => {
      const ended: string[] = [];
      for (const j of (await c.query<Running>(`${sql} FOR UPDATE SKIP LOCKED`, [ahead])).rows) {
        if (!due(j)) continue;
        if (j.retries > 0) {
          await c.query(
            `UPDATE insitu_engine_jobs SET state = 'queued', retries = retries - 1, started = NULL, lease_owner = NULL, lease_expires = NULL
             WHERE id = $1 AND state = 'running'`,
            [j.id],
          );
        } else {
          await c.query(
            `UPDATE insitu_engine_jobs SET state = 'failed', finished = $1, error = $2, lease_owner = NULL, lease_expires = NULL WHERE id = $3 AND state = 'running'`,
            [o.now, JSON.stringify(o.error), j.id],
          );
        }
        ended.push(j.id);
      }
      return ended;
    });
  }

  /** @inheritdoc */
  async deleteJob(id: string, owner: string): Promise<boolean> {
    return (await this.#db.query(`DELETE FROM insitu_engine_jobs WHERE id = $1 AND owner = $2 RETURNING 1`, [id, owner])).length > 0;
  }

  /** @inheritdoc */
  async purgeJobs(before: Date): Promise<number> {
    const [row] = await this.#db.query<{ n: string }>(
      `WITH gone AS (DELETE FROM insitu_engine_jobs WHERE state NOT IN ('queued', 'running') AND finished < $1 RETURNING 1) SELECT count(*) AS n FROM gone`,
      [before],
    );
    return num(row!.n);
  }
}
