import { PG_TASK_MIGRATION } from './pg-task-store.js';
import type { PgClient, PgDatabase } from './pg-database.js';

/** One schema change, applied once per database, in list order. */
export interface PgMigration {
  /** Stable id recorded in `insitu_engine_migrations`; never renamed or edited once released. */
  readonly id: string;
  /** The DDL, run in one transaction with its record. */
  readonly sql: string;
}

/**
 * Engine state in PostgreSQL (`insitu_engine_*` tables), created and upgraded by these migrations.
 * Append new ones at the end; never edit a released one.
 */
export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    // The engine catalog: everything but user tables and their privileges, as the SQLite schema has it
    // after its migration 8. Names and owners compare byte-wise (COLLATE "C"), as SQLite's BINARY does, so
    // listings come in the same order and ILIKE folds ASCII only, as SQLite's LIKE does. Times are
    // timestamptz; a global script's scope is '' (user names have at least one character).
    id: '001-catalog',
    sql: `
      CREATE TABLE insitu_engine_scripts (
        name        TEXT COLLATE "C" NOT NULL,
        owner       TEXT COLLATE "C" NOT NULL,
        is_global   BOOLEAN NOT NULL,
        scope       TEXT COLLATE "C" NOT NULL,
        source      TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        created     TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (scope, name)
      );
      CREATE TABLE insitu_engine_datastores (
        owner       TEXT COLLATE "C" NOT NULL,
        name        TEXT COLLATE "C" NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        grantable   BOOLEAN NOT NULL,
        created     TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (owner, name)
      );
      CREATE TABLE insitu_engine_datastore_objects (
        owner     TEXT COLLATE "C" NOT NULL,
        datastore TEXT COLLATE "C" NOT NULL,
        name      TEXT COLLATE "C" NOT NULL,
        class     TEXT NOT NULL,
        format    TEXT NOT NULL CHECK (format IN ('json', 'arrow', 'pickle')),
        size      BIGINT NOT NULL,
        length    BIGINT,
        n_rows    BIGINT,
        n_columns BIGINT,
        data      BYTEA NOT NULL,
        PRIMARY KEY (owner, datastore, name),
        FOREIGN KEY (owner, datastore) REFERENCES insitu_engine_datastores (owner, name) ON DELETE CASCADE
      );
      CREATE TABLE insitu_engine_grants (
        kind    TEXT NOT NULL CHECK (kind IN ('script', 'datastore')),
        owner   TEXT COLLATE "C" NOT NULL,
        name    TEXT COLLATE "C" NOT NULL,
        grantee TEXT COLLATE "C" NOT NULL,
        created TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (kind, owner, name, grantee)
      );
      CREATE INDEX insitu_engine_grants_by_grantee ON insitu_engine_grants (grantee, kind);
      CREATE TABLE insitu_engine_users (
        name          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        description   TEXT NOT NULL DEFAULT '',
        created       TIMESTAMPTZ NOT NULL,
        password_hash TEXT
      );
      CREATE TABLE insitu_engine_settings (
        key   TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE insitu_engine_revoked_logins (
        id    TEXT NOT NULL PRIMARY KEY,
        until TIMESTAMPTZ NOT NULL
      );
      CREATE TABLE insitu_engine_jobs (
        seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id               TEXT NOT NULL UNIQUE,
        owner            TEXT COLLATE "C" NOT NULL,
        kind             TEXT NOT NULL,
        func             TEXT NOT NULL,
        call             TEXT NOT NULL,
        origin           TEXT,
        state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
        created          TIMESTAMPTZ NOT NULL,
        started          TIMESTAMPTZ,
        finished         TIMESTAMPTZ,
        timeout_ms       BIGINT NOT NULL,
        retries          INTEGER NOT NULL DEFAULT 0,
        attempts         INTEGER NOT NULL DEFAULT 0,
        lease_owner      TEXT,
        lease_expires    TIMESTAMPTZ,
        cancel_requested BOOLEAN NOT NULL DEFAULT false,
        partitions_done  BIGINT NOT NULL DEFAULT 0,
        partitions_total BIGINT,
        rows_done        BIGINT NOT NULL DEFAULT 0,
        error            TEXT,
        result           BYTEA
      );
      CREATE INDEX insitu_engine_jobs_by_state ON insitu_engine_jobs (state, seq);
      CREATE INDEX insitu_engine_jobs_by_owner ON insitu_engine_jobs (owner, seq);
      CREATE TABLE insitu_engine_schedules (
        owner     TEXT COLLATE "C" NOT NULL,
        name      TEXT COLLATE "C" NOT NULL,
        call      TEXT NOT NULL,
        schedule  TEXT NOT NULL,
        enabled   BOOLEAN NOT NULL,
        auto_drop BOOLEAN NOT NULL,
        max_runs  BIGINT,
        run_count BIGINT NOT NULL DEFAULT 0,
        next_run  TIMESTAMPTZ,
        created   TIMESTAMPTZ NOT NULL,
        revision  BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (owner, name)
      );
      CREATE INDEX insitu_engine_schedules_due ON insitu_engine_schedules (next_run) WHERE enabled;
      CREATE TABLE insitu_engine_schedule_runs (
        id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        owner       TEXT COLLATE "C" NOT NULL,
        schedule    TEXT COLLATE "C" NOT NULL,
        run_trigger TEXT NOT NULL CHECK (run_trigger IN ('schedule', 'manual')),
        due         TIMESTAMPTZ,
        claimed     TIMESTAMPTZ NOT NULL,
        job_id      TEXT,
        state       TEXT,
        started     TIMESTAMPTZ,
        finished    TIMESTAMPTZ,
        stdout      TEXT,
        error       TEXT
      );
      CREATE INDEX insitu_engine_schedule_runs_by_owner ON insitu_engine_schedule_runs (owner, schedule, id);
      CREATE INDEX insitu_engine_schedule_runs_open ON insitu_engine_schedule_runs (id) WHERE state IS NULL;`,
  },
  {
    // User tables' owners and grants; and the role user statements run as (see pg-statement-guard.ts):
    // NOLOGIN, no privilege on any engine table, CREATE on schema public for a write context's tables.
    // Roles are shared by every database of the server, so it may exist already (or be created by an
    // engine migrating another database at the same moment). The engine's role must be able to create
    // it and to SET ROLE to it (a superuser, or a role with CREATEROLE that this grants it to).
    id: '002-tables',
    sql: `
      CREATE TABLE insitu_engine_table_owners (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        created TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE TABLE insitu_engine_table_grants (
        name TEXT NOT NULL,
        grantee TEXT NOT NULL,
        privilege TEXT NOT NULL CHECK (privilege IN ('read', 'write')),
        created TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (name, grantee)
      );
      DO $$
      BEGIN
        BEGIN
          CREATE ROLE insitu_udf NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
        IF NOT pg_has_role(current_user, 'insitu_udf', 'MEMBER') THEN
          BEGIN
            EXECUTE format('GRANT insitu_udf TO %I', current_user);
          EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
          END;
        END IF;
      END
      $$;
      GRANT USAGE, CREATE ON SCHEMA public TO insitu_udf;
    `,
  },
  PG_TASK_MIGRATION,
];

/** Key of the advisory lock that serialises migrations across engines ("insitu" in ASCII). */
const MIGRATION_LOCK = 0x696e73697475;

/**
 * Bring the database's engine schema up to date. Several engines starting at once on one database are
 * safe: each takes a session advisory lock first, so one migrates while the others wait, then find
 * nothing left to do. Each migration commits with its record, so a crash leaves a consistent version.
 */
export async function migrate(db: PgDatabase, migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<void> {
  await db.withClient(async (client: PgClient) => {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS insitu_engine_migrations (id TEXT PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())`,
      );
      const done = new Set((await client.query<{ id: string }>('SELECT id FROM insitu_engine_migrations')).rows.map((r) => r.id));
      for (const m of migrations) {
        if (done.has(m.id)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO insitu_engine_migrations (id) VALUES ($1)', [m.id]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK').catch(() => {});
          throw e;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    }
  });
}
