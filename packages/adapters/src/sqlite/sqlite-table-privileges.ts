import { PUBLIC, type TableAccessLevel, type TableOwnership, type UnownedTables } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';

/**
 * Owners and grants of user tables, kept in `insitu_table_owners` and `insitu_table_grants`, read and
 * written synchronously on one connection (the engine's, or a worker's context connection).
 */
export class SqliteTablePrivileges {
  readonly #db: BetterSqlite3.Database;
  readonly #unowned: UnownedTables;
  readonly #access: BetterSqlite3.Statement;
  readonly #ownership: BetterSqlite3.Statement;

  /** Use the given (migrated) connection; `unowned` is what every user may do with tables without owner. */
  constructor(db: BetterSqlite3.Database, unowned: UnownedTables) {
    this.#db = db;
    this.#unowned = unowned;
    this.#access = db.prepare(
      `SELECT (SELECT owner FROM insitu_table_owners WHERE name = @name) AS owner,
              (SELECT max(privilege) FROM insitu_table_grants WHERE name = @name AND grantee IN (@user, '${PUBLIC}')) AS granted`,
    );
    this.#ownership = db.prepare(
      `SELECT s.name AS name, o.owner AS owner FROM sqlite_schema AS s LEFT JOIN insitu_table_owners AS o ON o.name = s.name
        WHERE s.type IN ('table', 'view') AND s.name = ? COLLATE NOCASE`,
    );
  }

  /** The table or view `name` and its owner, or null when there is no such table. */
  ownership(name: string): TableOwnership | null {
    const row = this.#ownership.get(name) as { name: string; owner: string | null } | undefined;
    return row === undefined ? null : { name: row.name, owner: row.owner };
  }

  /**
   * What `user` may do with the table `name` (as sqlite_schema spells it). SQLite's own tables
   * (`sqlite_sequence`, `sqlite_stat*`) are bookkeeping written along with user tables: every user may
   * (statements that name them are refused before, see `BOOKKEEPING` in sqlite-table-access.ts).
   */
  access(name: string, user: string): TableAccessLevel {
    if (/^sqlite_/i.test(name)) return 'write';
    const { owner, granted } = this.#access.get({ name, user }) as { owner: string | null; granted: 'read' | 'write' | null };
    if (owner === user) return 'owner';
    const base: TableAccessLevel = owner === null ? this.#unowned : 'none';
    if (granted === 'write' || base === 'write') return 'write';
    if (granted === 'read' || base === 'read') return 'read';
    return 'none';
  }

  /** Make `owner` the owner of `name` (null: none), keeping its grants. */
  setOwner(name: string, owner: string | null): void {
    if (owner === null) {
      this.#db.prepare(`DELETE FROM insitu_table_owners WHERE name = ?`).run(name);
      return;
    }
    this.#db
      .prepare(`INSERT INTO insitu_table_owners (name, owner, created) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET owner = excluded.owner`)
      .run(name, owner, new Date().toISOString());
  }

  /** A table made just now: `owner` owns it, and whatever a dropped table of that name had is gone. */
  created(name: string, owner: string): void {
    this.dropped(name);
    this.setOwner(name, owner);
  }

  /** A table dropped: its owner row and grants go with it. */
  dropped(name: string): void {
    this.#db.prepare(`DELETE FROM insitu_table_owners WHERE name = ?`).run(name);
    this.#db.prepare(`DELETE FROM insitu_table_grants WHERE name = ?`).run(name);
  }

  /** Grant `privilege` on `name` to `grantee`, replacing an earlier grant. */
  putGrant(name: string, grantee: string, privilege: 'read' | 'write'): void {
    this.#db
      .prepare(
        `INSERT INTO insitu_table_grants (name, grantee, privilege, created) VALUES (?, ?, ?, ?)
           ON CONFLICT (name, grantee) DO UPDATE SET privilege = excluded.privilege`,
      )
      .run(name, grantee, privilege, new Date().toISOString());
  }

  /** Remove the grantee's grant on `name`; whether there was one. */
  deleteGrant(name: string, grantee: string): boolean {
    return this.#db.prepare(`DELETE FROM insitu_table_grants WHERE name = ? AND grantee = ?`).run(name, grantee).changes > 0;
  }
}
