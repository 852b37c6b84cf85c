import { ErrorCode, InsituError, type StoredCredentials, type StoredUser, type UserDeletion, type UserObjects, type UserStorage } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';

interface UserRow {
  name: string;
  description: string;
  created: string;
}

function fromRow(r: UserRow): StoredUser {
  return { name: r.name, description: r.description, created: new Date(r.created) };
}

interface OwnedTable {
  name: string;
  type: 'table' | 'view';
  virtual: 0 | 1;
}

/** Drop a user's tables: virtual tables first (their shadow tables go with them), then views and tables. */
function dropTables(db: BetterSqlite3.Database, tables: readonly OwnedTable[]): void {
  const ordered = [...tables].sort((a, b) => b.virtual - a.virtual);
  for (const t of ordered) {
    const exists = db.prepare(`SELECT 1 FROM sqlite_schema WHERE name = ? AND type = ?`).get(t.name, t.type) !== undefined;
    if (exists) db.exec(`DROP ${t.type === 'view' ? 'VIEW' : 'TABLE'} "${t.name.replaceAll('"', '""')}"`);
  }
}

/** Known users in the `insitu_users` table; dropping one also clears what they own. */
export class SqliteUserStore implements UserStorage {
  readonly #db: BetterSqlite3.Database;
  // Asked on every REST request (admission and token checks): prepared once.
  #getUser: BetterSqlite3.Statement | null = null;
  #getCredentials: BetterSqlite3.Statement | null = null;

  /** Use the given (migrated) connection. */
  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
  }

  /** @inheritdoc */
  async putUser(u: StoredUser & { readonly passwordHash?: string }, opts: { ifMissing: boolean }): Promise<boolean> {
    // A known user needs no write (so no wait for a partition holding the write lock).
    if (opts.ifMissing && this.#db.prepare(`SELECT 1 FROM insitu_users WHERE name = ?`).get(u.name) !== undefined) return false;
    const added =
      this.#db
        .prepare(`INSERT INTO insitu_users (name, description, created, password_hash) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`)
        .run(u.name, u.description, u.created.toISOString(), u.passwordHash ?? null).changes > 0;
    if (!added && !opts.ifMissing) throw new InsituError(ErrorCode.ALREADY_EXISTS, `user ${u.name} already exists`);
    return added;
  }

  /** @inheritdoc */
  async getUser(name: string): Promise<StoredUser | null> {
    this.#getUser ??= this.#db.prepare(`SELECT name, description, created FROM insitu_users WHERE name = ?`);
    const row = this.#getUser.get(name) as UserRow | undefined;
    return row === undefined ? null : fromRow(row);
  }

  /** @inheritdoc */
  async setPasswordHash(name: string, hash: string | null): Promise<boolean> {
    return this.#db.prepare(`UPDATE insitu_users SET password_hash = ? WHERE name = ?`).run(hash, name).changes > 0;
  }

  /** @inheritdoc */
  async getCredentials(name: string): Promise<StoredCredentials | null> {
    this.#getCredentials ??= this.#db.prepare(`SELECT created, password_hash FROM insitu_users WHERE name = ?`);
    const row = this.#getCredentials.get(name) as
      | { created: string; password_hash: string | null }
      | undefined;
    return row === undefined ? null : { created: new Date(row.created), passwordHash: row.password_hash };
  }

  /** @inheritdoc */
  async listUsers(): Promise<StoredUser[]> {
    return (this.#db.prepare(`SELECT name, description, created FROM insitu_users ORDER BY name`).all() as UserRow[]).map(fromRow);
  }

  /** @inheritdoc */
  async deleteUser(name: string, opts: { cascade: boolean }): Promise<UserDeletion | null> {
    const db = this.#db;
    return db.transaction((): UserDeletion | null => {
      if (db.prepare(`SELECT 1 FROM insitu_users WHERE name = ?`).get(name) === undefined) return null;
      // Owner rows of tables dropped outside insitu do not count.
      const tables = db
        .prepare(
          `SELECT s.name AS name, s.type AS type, s.sql LIKE 'CREATE VIRTUAL TABLE%' AS virtual
             FROM insitu_table_owners AS o JOIN sqlite_schema AS s ON s.name = o.name AND s.type IN ('table', 'view')
            WHERE o.owner = ?`,
        )
        .all(name) as OwnedTable[];
      const count = (sql: string) => db.prepare(sql).pluck().get(name) as number;
      const owned: UserObjects = {
        scripts: count(`SELECT count(*) FROM insitu_engine_scripts WHERE owner = ?`),
        datastores: count(`SELECT count(*) FROM insitu_engine_datastores WHERE owner = ?`),
        tables: tables.length,
        grants:
          count(`SELECT count(*) FROM insitu_engine_grants WHERE owner = ?`) +
          count(`SELECT count(*) FROM insitu_table_grants AS g JOIN insitu_table_owners AS o ON o.name = g.name WHERE o.owner = ?`),
      };
      if (!opts.cascade && owned.scripts + owned.datastores + owned.tables + owned.grants > 0) return { deleted: false, owned, revoked: 0 };
      dropTables(db, tables);
      db.prepare(`DELETE FROM insitu_table_grants WHERE name IN (SELECT name FROM insitu_table_owners WHERE owner = ?)`).run(name);
      db.prepare(`DELETE FROM insitu_table_owners WHERE owner = ?`).run(name);
      db.prepare(`DELETE FROM insitu_engine_grants WHERE owner = ?`).run(name);
      db.prepare(`DELETE FROM insitu_engine_scripts WHERE owner = ?`).run(name);
      db.prepare(`DELETE FROM insitu_datastore_objects WHERE owner = ?`).run(name);
      db.prepare(`DELETE FROM insitu_engine_datastores WHERE owner = ?`).run(name);
      const revoked =
        db.prepare(`DELETE FROM insitu_engine_grants WHERE grantee = ?`).run(name).changes +
        db.prepare(`DELETE FROM insitu_table_grants WHERE grantee = ?`).run(name).changes;
      db.prepare(`DELETE FROM insitu_engine_jobs WHERE owner = ?`).run(name);
      // Their schedules would otherwise fire as them (and, in open mode, register the name again).
      db.prepare(`DELETE FROM insitu_schedules WHERE owner = ?`).run(name);
      db.prepare(`DELETE FROM insitu_engine_schedule_runs WHERE owner = ?`).run(name);
      db.prepare(`DELETE FROM insitu_users WHERE name = ?`).run(name);
      return { deleted: true, owned, revoked };
    }).immediate();
  }
}
