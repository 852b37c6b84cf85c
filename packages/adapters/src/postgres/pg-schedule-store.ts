import type {
  NewRun,
  NewSchedule,
  RunOutcome,
  RunTrigger,
  ScheduleAdvance,
  ScheduleStorage,
  SerializedError,
  StoredRun,
  StoredSchedule,
} from '@insitu/core';
import type { PgClient, PgDatabase } from './pg-database.js';
import { num, numOrNull } from './pg-row-values.js';

type ScheduleRow = {
  owner: string;
  name: string;
  call: string;
  schedule: string;
  enabled: boolean;
  auto_drop: boolean;
  max_runs: string | null;
  run_count: string;
  next_run: Date | null;
  created: Date;
  revision: string;
};

type RunRow = {
  id: string;
  owner: string;
  schedule: string;
  run_trigger: string;
  due: Date | null;
  claimed: Date;
  job_id: string | null;
  state: string | null;
  started: Date | null;
  finished: Date | null;
  stdout: string | null;
  error: string | null;
};

function scheduleOf(r: ScheduleRow): StoredSchedule {
  return {
    owner: r.owner,
    name: r.name,
    call: r.call,
    schedule: r.schedule,
    enabled: r.enabled,
    autoDrop: r.auto_drop,
    maxRuns: numOrNull(r.max_runs),
    runCount: num(r.run_count),
    nextRun: r.next_run,
    created: r.created,
    revision: num(r.revision),
  };
}

function runOf(r: RunRow): StoredRun {
  return {
    id: num(r.id),
    owner: r.owner,
    schedule: r.schedule,
    trigger: r.run_trigger as RunTrigger,
    due: r.due,
    claimed: r.claimed,
    jobId: r.job_id,
    outcome:
      r.state === null
        ? null
        : {
            state: r.state,
            started: r.started,
            finished: r.finished ?? r.claimed,
            stdout: r.stdout ?? '',
            error: r.error === null ? null : (JSON.parse(r.error) as SerializedError),
          },
  };
}

const SCHEDULE_COLUMNS = `owner, name, call, schedule, enabled, auto_drop, max_runs, run_count, next_run, created, revision`;
const RUN_COLUMNS = `id, owner, schedule, run_trigger, due, claimed, job_id, state, started, finished, stdout, error`;

/** Schedules in `insitu_engine_schedules` and their run log in `insitu_engine_schedule_runs`. */
export class PgScheduleStore implements ScheduleStorage {
  readonly #db: PgDatabase;

  /** Use the given (migrated) database. */
  constructor(db: PgDatabase) {
    this.#db = db;
  }

  /** @inheritdoc */
  insertSchedule(s: NewSchedule): Promise<boolean> {
    return this.#db.tx(async (c): Promise<boolean> => {
      const added =
        (
          await c.query(
            `INSERT INTO insitu_engine_schedules (owner, name, call, schedule, enabled, auto_drop, max_runs, next_run, created)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (owner, name) DO NOTHING RETURNING 1`,
            [s.owner, s.name, s.call, s.schedule, s.enabled, s.autoDrop, s.maxRuns, s.nextRun, s.created],
          )
        ).rowCount! > 0;
      // A log left by an auto-dropped schedule of the same name belongs to that one, not to this.
      if (added) await c.query(`DELETE FROM insitu_engine_schedule_runs WHERE owner = $1 AND schedule = $2`, [s.owner, s.name]);
      return added;
    });
  }

  /** @inheritdoc */
  async getSchedule(owner: string, name: string): Promise<StoredSchedule | null> {
    const [row] = await this.#db.query<ScheduleRow>(`SELECT ${SCHEDULE_COLUMNS} FROM insitu_engine_schedules WHERE owner = $1 AND name = $2`, [owner, name]);
    return row === undefined ? null : scheduleOf(row);
  }

  /** @inheritdoc */
  async listSchedules(owner: string): Promise<StoredSchedule[]> {
    return (await this.#db.query<ScheduleRow>(`SELECT ${SCHEDULE_COLUMNS} FROM insitu_engine_schedules WHERE owner = $1 ORDER BY name`, [owner])).map(
      scheduleOf,
    );
  }

  /** @inheritdoc */
  async setScheduleEnabled(owner: string, name: string, enabled: boolean, nextRun: Date | null): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE insitu_engine_schedules SET enabled = $1, next_run = $2, revision = revision + 1 WHERE owner = $3 AND name = $4 RETURNING 1`,
      [enabled, nextRun, owner, name],
    );
    return rows.length > 0;
  }

  /** @inheritdoc */
  deleteSchedule(owner: string, name: string): Promise<boolean> {
    return this.#db.tx(async (c): Promise<boolean> => {
      const gone = (await c.query(`DELETE FROM insitu_engine_schedules WHERE owner = $1 AND name = $2`, [owner, name])).rowCount! > 0;
      if (gone) await c.query(`DELETE FROM insitu_engine_schedule_runs WHERE owner = $1 AND schedule = $2`, [owner, name]);
      return gone;
    });
  }

  /** @inheritdoc */
  async dueSchedules(now: Date, limit: number): Promise<StoredSchedule[]> {
    const rows = await this.#db.query<ScheduleRow>(
      `SELECT ${SCHEDULE_COLUMNS} FROM insitu_engine_schedules WHERE enabled AND next_run IS NOT NULL AND next_run <= $1 ORDER BY next_run LIMIT $2`,
      [now, limit],
    );
    return rows.map(scheduleOf);
  }

  /**
   * @inheritdoc
   * The UPDATE (or DELETE) is the compare-and-set: an engine racing another for the same revision waits
   * for the first's row lock, then re-checks `revision = $n` against the row the first committed, finds
   * it bumped and changes nothing. So each due slot is claimed (and logged) by one engine only.
   */
  claimRun(a: ScheduleAdvance, run: NewRun): Promise<number | null> {
    return this.#db.tx(async (c): Promise<number | null> => {
      const key = [a.owner, a.name, a.revision];
      const changed = a.drop
        ? (await c.query(`DELETE FROM insitu_engine_schedules WHERE owner = $1 AND name = $2 AND revision = $3 AND enabled`, key)).rowCount!
        : (
            await c.query(
              `UPDATE insitu_engine_schedules SET next_run = $4, enabled = $5, run_count = run_count + 1, revision = revision + 1
               WHERE owner = $1 AND name = $2 AND revision = $3 AND enabled`,
              [...key, a.nextRun, a.enabled],
            )
          ).rowCount!;
      if (changed === 0) return null;
      return insertRun(c, run);
    });
  }

  /** @inheritdoc The schedule's row is share-locked, so a concurrent delete waits for the run to be logged (and then clears it). */
  insertRun(run: NewRun): Promise<number | null> {
    return this.#db.tx(async (c): Promise<number | null> => {
      const found = await c.query(`SELECT 1 FROM insitu_engine_schedules WHERE owner = $1 AND name = $2 FOR SHARE`, [run.owner, run.schedule]);
      if (found.rowCount === 0) return null;
      return insertRun(c, run);
    });
  }

  /** @inheritdoc */
  async setRunJob(id: number, jobId: string): Promise<void> {
    await this.#db.query(`UPDATE insitu_engine_schedule_runs SET job_id = $1 WHERE id = $2`, [jobId, id]);
  }

  /**
   * @inheritdoc
   * PostgreSQL text cannot hold NUL characters: any in the output are stored as U+FFFD.
   */
  async finishRun(id: number, o: RunOutcome): Promise<void> {
    await this.#db.query(
      `UPDATE insitu_engine_schedule_runs SET state = $1, started = $2, finished = $3, stdout = $4, error = $5 WHERE id = $6 AND state IS NULL`,
      [o.state, o.started, o.finished, o.stdout.replaceAll('\u0000', '\uFFFD'), o.error === null ? null : JSON.stringify(o.error), id],
    );
  }

  /** @inheritdoc */
  async openRuns(limit: number): Promise<StoredRun[]> {
    return (await this.#db.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM insitu_engine_schedule_runs WHERE state IS NULL ORDER BY id LIMIT $1`, [limit])).map(runOf);
  }

  /** @inheritdoc */
  async listRuns(f: { owner: string; schedule?: string; limit: number }): Promise<StoredRun[]> {
    const rows =
      f.schedule === undefined
        ? await this.#db.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM insitu_engine_schedule_runs WHERE owner = $1 ORDER BY id DESC LIMIT $2`, [f.owner, f.limit])
        : await this.#db.query<RunRow>(
            `SELECT ${RUN_COLUMNS} FROM insitu_engine_schedule_runs WHERE owner = $1 AND schedule = $2 ORDER BY id DESC LIMIT $3`,
            [f.owner, f.schedule, f.limit],
          );
    return rows.map(runOf);
  }

  /** @inheritdoc */
  async lastRuns(owner: string, schedules: readonly string[]): Promise<Map<string, StoredRun>> {
    const out = new Map<string, StoredRun>();
    if (schedules.length === 0) return out;
    const rows = await this.#db.query<RunRow>(
      `SELECT DISTINCT ON (schedule) ${RUN_COLUMNS} FROM insitu_engine_schedule_runs WHERE owner = $1 AND schedule = ANY($2::text[]) ORDER BY schedule, id DESC`,
      [owner, schedules],
    );
    for (const row of rows) out.set(row.schedule, runOf(row));
    return out;
  }

  /** @inheritdoc */
  async purgeRuns(before: Date): Promise<number> {
    const [row] = await this.#db.query<{ n: string }>(
      `WITH gone AS (DELETE FROM insitu_engine_schedule_runs WHERE state IS NOT NULL AND finished < $1 RETURNING 1) SELECT count(*) AS n FROM gone`,
      [before],
    );
    return num(row!.n);
  }
}

/** Log a run on `c`; resolves to its id. */
async function insertRun(c: PgClient, run: NewRun): Promise<number> {
  const res = await c.query<{ id: string }>(
    `INSERT INTO insitu_engine_schedule_runs (owner, schedule, run_trigger, due, claimed) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
    [run.owner, run.schedule, run.trigger, run.due, run.claimed],
  );
  return num(res.rows[0]!.id);
}
