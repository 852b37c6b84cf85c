import { PUBLIC, type Grant, type GrantKind, type GrantStorage, type Synchronous } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';

/** Read grants in the `insitu_engine_grants` table. */
export class SqliteGrantStore implements Synchronous<GrantStorage> {
  readonly #db: BetterSqlite3.Database;

  /** Use the given (migrated) connection. */
  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
  }

  /** @inheritdoc */
  putGrant(g: Grant): void {
    this.#db
      .prepare(`INSERT OR IGNORE INTO insitu_engine_grants (kind, owner, name, grantee, created) VALUES (?, ?, ?, ?, ?)`)
      .run(g.kind, g.owner, g.name, g.grantee, new Date().toISOString());
  }

  /** @inheritdoc */
  deleteGrant(g: Grant): boolean {
    return (
      this.#db.prepare(`DELETE FROM insitu_engine_grants WHERE kind = ? AND owner = ? AND name = ? AND grantee = ?`).run(g.kind, g.owner, g.name, g.grantee)
        .changes > 0
    );
  }

  /** @inheritdoc */
  hasGrant(kind: GrantKind, owner: string, name: string, user: string): boolean {
    return (
      this.#db
        .prepare(`SELECT 1 FROM insitu_engine_grants WHERE kind = ? AND owner = ? AND name = ? AND grantee IN (?, '${PUBLIC}')`)
        .get(kind, owner, name, user) !== undefined
    );
  }
}
