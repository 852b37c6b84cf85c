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
