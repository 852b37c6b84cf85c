import type BetterSqlite3 from 'better-sqlite3';

/**
 * Versioned schema migrations for engine state (`insitu_*` tables), tracked in PRAGMA user_version.
 * Each entry upgrades from version i to i+1 and runs in one transaction with the version bump.
 * Append new migrations; never edit a released one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: script repository. Private scripts are unique per (owner, name); global ones per name.
  `CREATE TABLE insitu_scripts (
     name        TEXT NOT NULL,
     owner       TEXT NOT NULL,
     is_global   INTEGER NOT NULL CHECK (is_global IN (0, 1)),
     scope       TEXT NOT NULL,
     source      TEXT NOT NULL,
     description TEXT NOT NULL DEFAULT '',
     created     TEXT NOT NULL,
     PRIMARY KEY (scope, name)
   ) WITHOUT ROWID;`,
  // 2: datastores (named bags of serialised objects) and read grants on scripts and datastores.
  `CREATE TABLE insitu_datastores (
     owner       TEXT NOT NULL,
     name        TEXT NOT NULL,
     description TEXT NOT NULL DEFAULT '',
     grantable   INTEGER NOT NULL CHECK (grantable IN (0, 1)),
     created     TEXT NOT NULL,
     PRIMARY KEY (owner, name)
   ) WITHOUT ROWID;
   CREATE TABLE insitu_datastore_objects (
     owner     TEXT NOT NULL,
     datastore TEXT NOT NULL,
     name      TEXT NOT NULL,
     class     TEXT NOT NULL,
     format    TEXT NOT NULL CHECK (format IN ('json', 'arrow', 'pickle')),
     size      INTEGER NOT NULL,
     length    INTEGER,
     n_rows    INTEGER,
     n_columns INTEGER,
     data      BLOB NOT NULL,
     PRIMARY KEY (owner, datastore, name),
     FOREIGN KEY (owner, datastore) REFERENCES insitu_datastores (owner, name) ON DELETE CASCADE
   );
   CREATE TABLE insitu_grants (
     kind    TEXT NOT NULL CHECK (kind IN ('script', 'datastore')),
     owner   TEXT NOT NULL,
     name    TEXT NOT NULL,
     grantee TEXT NOT NULL,
     created TEXT NOT NULL,
     PRIMARY KEY (kind, owner, name, grantee)
   ) WITHOUT ROWID;
   CREATE INDEX insitu_grants_by_grantee ON insitu_grants (grantee, kind);`,
  // 3: known users. Names are case-sensitive, as owners are. Users that already own or hold objects
  // are registered from them (any name of 1 to 128 characters but PUBLIC).
  `CREATE TABLE insitu_users (
     name        TEXT NOT NULL PRIMARY KEY,
     description TEXT NOT NULL DEFAULT '',
     created     TEXT NOT NULL
   ) WITHOUT ROWID;
   INSERT OR IGNORE INTO insitu_users (name, description, created)
     SELECT name, '', strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM (
       SELECT owner AS name FROM insitu_scripts UNION SELECT owner FROM insitu_datastores
       UNION SELECT owner FROM insitu_grants UNION SELECT grantee FROM insitu_grants)
     WHERE length(name) BETWEEN 1 AND 128 AND upper(name) <> 'PUBLIC';`,
  // 4: owners and grants of user tables. Names compare case-insensitively, as SQLite's own do. Tables
  // that exist already have no owner (the engine's unownedTables rule applies to them).
  `CREATE TABLE insitu_table_owners (
     name    TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
     owner   TEXT NOT NULL,
     created TEXT NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE insitu_table_grants (
     name      TEXT NOT NULL COLLATE NOCASE,
     grantee   TEXT NOT NULL,
     privilege TEXT NOT NULL CHECK (privilege IN ('read', 'write')),
     created   TEXT NOT NULL,
     PRIMARY KEY (name, grantee)
   ) WITHOUT ROWID;`,
  // 5: sign-in for the REST server: users' password hashes (NULL: cannot sign in), engine settings (the
  // token signing secret) and revoked logins (kept until their last token would have expired).
  `ALTER TABLE insitu_users ADD COLUMN password_hash TEXT;
   CREATE TABLE insitu_settings (
     key   TEXT NOT NULL PRIMARY KEY,
     value TEXT NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE insitu_revoked_logins (
     id    TEXT NOT NULL PRIMARY KEY,
     until TEXT NOT NULL
   ) WITHOUT ROWID;`,
  // 6: async jobs. Times are milliseconds since the epoch. \`seq\` orders the queue (submission order:
  // a new row's rowid is above every existing one; no AUTOINCREMENT, whose sqlite_sequence table would
  // join every DROP TABLE of user tables); a running job's lease (holder, expiry) is renewed by the
  // engine running it.
  `CREATE TABLE insitu_jobs (
     seq              INTEGER PRIMARY KEY,
     id               TEXT NOT NULL UNIQUE,
     owner            TEXT NOT NULL,
     kind             TEXT NOT NULL,
     func             TEXT NOT NULL,
     call             TEXT NOT NULL,
     origin           TEXT,
     state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
     created          INTEGER NOT NULL,
     started          INTEGER,
     finished         INTEGER,
     timeout_ms       INTEGER NOT NULL,
     retries          INTEGER NOT NULL DEFAULT 0,
     attempts         INTEGER NOT NULL DEFAULT 0,
     lease_owner      TEXT,
     lease_expires    INTEGER,
     cancel_requested INTEGER NOT NULL DEFAULT 0,
     partitions_done  INTEGER NOT NULL DEFAULT 0,
     partitions_total INTEGER,
     rows_done        INTEGER NOT NULL DEFAULT 0,
     error            TEXT,
     result           BLOB
   );
   CREATE INDEX insitu_jobs_by_state ON insitu_jobs (state, seq);
   CREATE INDEX insitu_jobs_by_owner ON insitu_jobs (owner, seq);`,
  // 7: schedules (a stored apply call and when it fires) and their run log, one row per run. Times are
  // milliseconds since the epoch. `revision` is bumped by every change: engines claim a due run with a
  // compare-and-set on it. A run's outcome columns stay NULL until its job ends.
  `CREATE TABLE insitu_schedules (
     owner     TEXT NOT NULL,
     name      TEXT NOT NULL,
     call      TEXT NOT NULL,
     schedule  TEXT NOT NULL,
     enabled   INTEGER NOT NULL CHECK (enabled IN (0, 1)),
     auto_drop INTEGER NOT NULL CHECK (auto_drop IN (0, 1)),
     max_runs  INTEGER,
     run_count INTEGER NOT NULL DEFAULT 0,
     next_run  INTEGER,
     created   INTEGER NOT NULL,
     revision  INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (owner, name)
   ) WITHOUT ROWID;
   CREATE INDEX insitu_schedules_due ON insitu_schedules (next_run) WHERE enabled = 1;
   CREATE TABLE insitu_schedule_runs (
     id          INTEGER PRIMARY KEY AUTOINCREMENT,
     owner       TEXT NOT NULL,
     schedule    TEXT NOT NULL,
     run_trigger TEXT NOT NULL CHECK (run_trigger IN ('schedule', 'manual')),
     due         INTEGER,
     claimed     INTEGER NOT NULL,
     job_id      TEXT,
     state       TEXT,
     started     INTEGER,
     finished    INTEGER,
     stdout      TEXT,
     error       TEXT
   );
   CREATE INDEX insitu_schedule_runs_by_owner ON insitu_schedule_runs (owner, schedule, id);
   CREATE INDEX insitu_schedule_runs_open ON insitu_schedule_runs (id) WHERE state IS NULL;`,
  // 8: the engine tables whose names the SQL catalog functions take (insitu_scripts(), insitu_datastores(),
  // insitu_grants(), insitu_jobs(), insitu_schedule_runs()) are renamed: on a connection to this file a
  // table shadows a table-valued function of the same name. They keep the insitu_ prefix, by which every
  // guard knows an engine table; the foreign key of insitu_datastore_objects follows the rename.
  `ALTER TABLE insitu_scripts RENAME TO insitu_engine_scripts;
   ALTER TABLE insitu_datastores RENAME TO insitu_engine_datastores;
   ALTER TABLE insitu_grants RENAME TO insitu_engine_grants;
   ALTER TABLE insitu_jobs RENAME TO insitu_engine_jobs;
   ALTER TABLE insitu_schedule_runs RENAME TO insitu_engine_schedule_runs;`,
  // 9: the shared queue of distributed calls' partitions (distribute: true), one row per partition, claimed
  // under a lease by any engine open on the file; the result waits in the row until its caller takes it.
  `CREATE TABLE insitu_engine_tasks (
     call          TEXT NOT NULL,
     seq           INTEGER NOT NULL,
     user_name     TEXT NOT NULL,
     spec          TEXT NOT NULL,
     data          BLOB,
     state         TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done')),
     lease_owner   TEXT,
     lease_expires INTEGER,
     attempts      INTEGER NOT NULL DEFAULT 0,
     engine        TEXT,
     result        BLOB,
     error         TEXT,
     caller_seen   INTEGER NOT NULL,
     UNIQUE (call, seq)
   );
   CREATE INDEX insitu_engine_tasks_open ON insitu_engine_tasks (state, lease_expires);
   CREATE INDEX insitu_engine_tasks_seen ON insitu_engine_tasks (caller_seen);`,
];

/** Bring the database up to the latest schema version. Refuses a database from a newer insitu. */
export function migrate(db: BetterSqlite3.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `database schema version ${current} is newer than this insitu understands (${MIGRATIONS.length}); upgrade insitu`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
