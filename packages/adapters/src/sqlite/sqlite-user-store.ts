import { ErrorCode, InsituError, type StoredUser, type UserDeletion, type UserObjects, type UserStorage } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';

interface UserRow {
  name: string;
  description: string;
  created: string;
}

function fromRow(r: UserRow): StoredUser {
  return { name: r.name, description: r.description, created: new Date(r.created) };
}

/** Known users in the `insitu_users` table; dropping one also clears what they own. */
export class SqliteUserStore implements UserStorage {
  readonly #db: BetterSqlite3.Database;

  /** Use the given (migrated) connection. */
  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
  }

  /** @inheritdoc */
  async putUser(u: StoredUser, opts: { ifMissing: boolean }): Promise<boolean> {
    const added =
      this.#db
        .prepare(`INSERT INTO insitu_users (name, description, created) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`)
        .run(u.name, u.description, u.created.toISOString()).changes > 0;
    if (!added && !opts.ifMissing) throw new InsituError(ErrorCode.ALREADY_EXISTS, `user ${u.name} already exists`);
    return added;
  }

  /** @inheritdoc */
  async getUser(name: string): Promise<StoredUser | null> {
    const row = this.#db.prepare(`SELECT name, description, created FROM insitu_users WHERE name = ?`).get(name) as UserRow | undefined;
    return row === undefined ? null : fromRow(row);
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
      const count = (sql: string) => db.prepare(sql).pluck().get(name) as number;
      const owned: UserObjects = {
        scripts: count(`SELECT count(*) FROM insitu_scripts WHERE owner = ?`),
        datastores: count(`SELECT count(*) FROM insitu_datastores WHERE owner = ?`),
        grants: count(`SELECT count(*) FROM insitu_grants WHERE owner = ?`),
      };
      if (!opts.cascade && owned.scripts + owned.datastores + owned.grants > 0) return { deleted: false, owned, revoked: 0 };
      db.prepare(`DELETE FROM insitu_grants WHERE owner = ?`).run(name);
      db.prepare(`DELETE FROM insitu_scripts WHERE owner = ?`).run(name);
      db.prepare(`DELETE FROM insitu_datastore_objects WHERE owner = ?`).run(name);
      db.prepare(`DELETE FROM insitu_datastores WHERE owner = ?`).run(name);
      const revoked = db.prepare(`DELETE FROM insitu_grants WHERE grantee = ?`).run(name).changes;
      db.prepare(`DELETE FROM insitu_jobs WHERE owner = ?`).run(name);
      // Their schedules would otherwise fire as them (and, in open mode, register the name again).
      db.prepare(`DELETE FROM insitu_schedules WHERE owner = ?`).run(name);
      db.prepare(`DELETE FROM insitu_schedule_runs WHERE owner = ?`).run(name);
      db.prepare(`DELETE FROM insitu_users WHERE name = ?`).run(name);
      return { deleted: true, owned, revoked };
    }).immediate();
  }
}
