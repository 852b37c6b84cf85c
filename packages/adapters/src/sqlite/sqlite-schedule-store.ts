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
import type BetterSqlite3 from 'better-sqlite3';
import { dateOf, msOf } from './sqlite-times.js';

interface ScheduleRow {
  owner: string;
  name: string;
  call: string;
  schedule: string;
  enabled: number;
  auto_drop: number;
  max_runs: number | null;
  run_count: number;
  next_run: number | null;
  created: number;
  revision: number;
}

interface RunRow {
  id: number;
  owner: string;
  schedule: string;
  run_trigger: string;
  due: number | null;
  claimed: number;
  job_id: string | null;
  state: string | null;
  started: number | null;
  finished: number | null;
  stdout: string | null;
  error: string | null;
}


function scheduleOf(r: ScheduleRow): StoredSchedule {
  return {
    owner: r.owner,
    name: r.name,
    call: r.call,
    schedule: r.schedule,
    enabled: r.enabled === 1,
    autoDrop: r.auto_drop === 1,
    maxRuns: r.max_runs,
    runCount: r.run_count,
    nextRun: dateOf(r.next_run),
    created: new Date(r.created),
    revision: r.revision,
  };
}

function runOf(r: RunRow): StoredRun {
  return {
    id: r.id,
    owner: r.owner,
    schedule: r.schedule,
    trigger: r.run_trigger as RunTrigger,
    due: dateOf(r.due),
    claimed: new Date(r.claimed),
    jobId: r.job_id,
    outcome:
      r.state === null
        ? null
        : {
            state: r.state,
            started: dateOf(r.started),
            finished: new Date(r.finished ?? r.claimed),
            stdout: r.stdout ?? '',
            error: r.error === null ? null : (JSON.parse(r.error) as SerializedError),
          },
  };
}

const SCHEDULE_COLUMNS = `owner, name, call, schedule, enabled, auto_drop, max_runs, run_count, next_run, created, revision`;
const RUN_COLUMNS = `id, owner, schedule, run_trigger, due, claimed, job_id, state, started, finished, stdout, error`;

/** Schedules in `insitu_schedules` and their run log in `insitu_engine_schedule_runs`. */
export class SqliteScheduleStore implements ScheduleStorage {
  readonly #db: BetterSqlite3.Database;

  /** Use the given (migrated) connection. */
  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
  }

  /** @inheritdoc */
  async insertSchedule(s: NewSchedule): Promise<boolean> {
    const db = this.#db;
    return db.transaction((): boolean => {
      const added =
        db
          .prepare(
            `INSERT INTO insitu_schedules (owner, name, call, schedule, enabled, auto_drop, max_runs, next_run, created)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner, name) DO NOTHING`,
          )
          .run(s.owner, s.name, s.call, s.schedule, s.enabled ? 1 : 0, s.autoDrop ? 1 : 0, s.maxRuns, msOf(s.nextRun), s.created.getTime()).changes > 0;
      // A log left by an auto-dropped schedule of the same name belongs to that one, not to this.
      if (added) db.prepare(`DELETE FROM insitu_engine_schedule_runs WHERE owner = ? AND schedule = ?`).run(s.owner, s.name);
      return added;
    }).immediate();
  }

  /** @inheritdoc */
  async getSchedule(owner: string, name: string): Promise<StoredSchedule | null> {
    const row = this.#db.prepare(`SELECT ${SCHEDULE_COLUMNS} FROM insitu_schedules WHERE owner = ? AND name = ?`).get(owner, name) as ScheduleRow | undefined;
    return row === undefined ? null : scheduleOf(row);
  }

  /** @inheritdoc */
  async listSchedules(owner: string): Promise<StoredSchedule[]> {
    return (this.#db.prepare(`SELECT ${SCHEDULE_COLUMNS} FROM insitu_schedules WHERE owner = ? ORDER BY name`).all(owner) as ScheduleRow[]).map(scheduleOf);
  }

  /** @inheritdoc */
  async setScheduleEnabled(owner: string, name: string, enabled: boolean, nextRun: Date | null): Promise<boolean> {
    return (
      this.#db
        .prepare(`UPDATE insitu_schedules SET enabled = ?, next_run = ?, revision = revision + 1 WHERE owner = ? AND name = ?`)
        .run(enabled ? 1 : 0, msOf(nextRun), owner, name).changes > 0
    );
  }

  /** @inheritdoc */
  async deleteSchedule(owner: string, name: string): Promise<boolean> {
    const db = this.#db;
    return db.transaction((): boolean => {
      const gone = db.prepare(`DELETE FROM insitu_schedules WHERE owner = ? AND name = ?`).run(owner, name).changes > 0;
      if (gone) db.prepare(`DELETE FROM insitu_engine_schedule_runs WHERE owner = ? AND schedule = ?`).run(owner, name);
      return gone;
    }).immediate();
  }

  /** @inheritdoc */
  async dueSchedules(now: Date, limit: number): Promise<StoredSchedule[]> {
    return (
      this.#db
        .prepare(`SELECT ${SCHEDULE_COLUMNS} FROM insitu_schedules WHERE enabled = 1 AND next_run IS NOT NULL AND next_run <= ? ORDER BY next_run LIMIT ?`)
        .all(now.getTime(), limit) as ScheduleRow[]
    ).map(scheduleOf);
  }

  /** @inheritdoc */
  async claimRun(a: ScheduleAdvance, run: NewRun): Promise<number | null> {
    const db = this.#db;
    return db.transaction((): number | null => {
      const key = [a.owner, a.name, a.revision] as const;
      const changed = a.drop
        ? db.prepare(`DELETE FROM insitu_schedules WHERE owner = ? AND name = ? AND revision = ? AND enabled = 1`).run(...key).changes
        : db
            .prepare(
              `UPDATE insitu_schedules SET next_run = ?, enabled = ?, run_count = run_count + 1, revision = revision + 1
               WHERE owner = ? AND name = ? AND revision = ? AND enabled = 1`,
            )
            .run(msOf(a.nextRun), a.enabled ? 1 : 0, ...key).changes;
      if (changed === 0) return null;
      return this.#insertRun(run);
    }).immediate();
  }

  /** @inheritdoc */
  async insertRun(run: NewRun): Promise<number | null> {
    const db = this.#db;
    return db.transaction((): number | null => {
      if (db.prepare(`SELECT 1 FROM insitu_schedules WHERE owner = ? AND name = ?`).get(run.owner, run.schedule) === undefined) return null;
      return this.#insertRun(run);
    }).immediate();
  }

  #insertRun(run: NewRun): number {
    return Number(
      this.#db
        .prepare(`INSERT INTO insitu_engine_schedule_runs (owner, schedule, run_trigger, due, claimed) VALUES (?, ?, ?, ?, ?)`)
        .run(run.owner, run.schedule, run.trigger, msOf(run.due), run.claimed.getTime()).lastInsertRowid,
    );
  }

  /** @inheritdoc */
  async setRunJob(id: number, jobId: string): Promise<void> {
    this.#db.prepare(`UPDATE insitu_engine_schedule_runs SET job_id = ? WHERE id = ?`).run(jobId, id);
  }

  /** @inheritdoc */
  async finishRun(id: number, o: RunOutcome): Promise<void> {
    this.#db
      .prepare(`UPDATE insitu_engine_schedule_runs SET state = ?, started = ?, finished = ?, stdout = ?, error = ? WHERE id = ? AND state IS NULL`)
      .run(o.state, msOf(o.started), o.finished.getTime(), o.stdout, o.error === null ? null : JSON.stringify(o.error), id);
  }

  /** @inheritdoc */
  async openRuns(limit: number): Promise<StoredRun[]> {
    return (this.#db.prepare(`SELECT ${RUN_COLUMNS} FROM insitu_engine_schedule_runs WHERE state IS NULL ORDER BY id LIMIT ?`).all(limit) as RunRow[]).map(runOf);
  }

  /** @inheritdoc */
  async listRuns(f: { owner: string; schedule?: string; limit: number }): Promise<StoredRun[]> {
    const rows =
      f.schedule === undefined
        ? this.#db.prepare(`SELECT ${RUN_COLUMNS} FROM insitu_engine_schedule_runs WHERE owner = ? ORDER BY id DESC LIMIT ?`).all(f.owner, f.limit)
        : this.#db.prepare(`SELECT ${RUN_COLUMNS} FROM insitu_engine_schedule_runs WHERE owner = ? AND schedule = ? ORDER BY id DESC LIMIT ?`).all(f.owner, f.schedule, f.limit);
    return (rows as RunRow[]).map(runOf);
  }

  /** @inheritdoc */
  async lastRuns(owner: string, schedules: readonly string[]): Promise<Map<string, StoredRun>> {
    const out = new Map<string, StoredRun>();
    const stmt = this.#db.prepare(`SELECT ${RUN_COLUMNS} FROM insitu_engine_schedule_runs WHERE owner = ? AND schedule = ? ORDER BY id DESC LIMIT 1`);
    for (const name of schedules) {
      const row = stmt.get(owner, name) as RunRow | undefined;
      if (row !== undefined) out.set(name, runOf(row));
    }
    return out;
  }

  /** @inheritdoc */
  async purgeRuns(before: Date): Promise<number> {
    return this.#db.prepare(`DELETE FROM insitu_engine_schedule_runs WHERE state IS NOT NULL AND finished < ?`).run(before.getTime()).changes;
  }
}
