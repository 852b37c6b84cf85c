import { ErrorCode, InsituError, type StoredCredentials, type StoredUser, type UserDeletion, type UserObjects, type UserStorage } from '@insitu/core';
import type { PgClient, PgDatabase } from './pg-database.js';
import { num } from './pg-row-values.js';

type UserRow = {
  name: string;
  description: string;
  created: Date;
};

function fromRow(r: UserRow): StoredUser {
  return { name: r.name, description: r.description, created: r.created };
}

/**
 * What dropping a user needs from the store of user tables (which owns the table-owner and table-grant
 * engine tables): each method runs on `client`, inside the drop's transaction.
 */
export interface PgUserTables {
  /** Tables and views `user` owns (that still exist), and grants given on them. */
  ownedByUser(client: PgClient, user: string): Promise<{ readonly tables: number; readonly grants: number }>;
  /** Drop the tables `user` owns with their owner records and grants; revoke table grants given to `user`. Resolves to the grants revoked. */
  dropForUser(client: PgClient, user: string): Promise<number>;
}

/** Known users in `insitu_engine_users`; dropping one also clears what they own. */
export class PgUserStore implements UserStorage {
  readonly #db: PgDatabase;
  readonly #tables: PgUserTables;

  /** Use the given (migrated) database; `tables`: the user tables' part of a drop (the table store). */
  constructor(db: PgDatabase, tables: PgUserTables) {
    this.#db = db;
    this.#tables = tables;
  }

  /** @inheritdoc */
  async putUser(u: StoredUser & { readonly passwordHash?: string }, opts: { ifMissing: boolean }): Promise<boolean> {
    // A known user needs no write (asked for every session an open-mode engine admits).
    if (opts.ifMissing && (await this.#db.query(`SELECT 1 FROM insitu_engine_users WHERE name = $1`, [u.name])).length > 0) return false;
    const added =
      (
        await this.#db.query(
          `INSERT INTO insitu_engine_users (name, description, created, password_hash) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING 1`,
          [u.name, u.description, u.created, u.passwordHash ?? null],
        )
      ).length > 0;
    if (!added && !opts.ifMissing) throw new InsituError(ErrorCode.ALREADY_EXISTS, `user ${u.name} already exists`);
    return added;
  }

  /** @inheritdoc */
  async getUser(name: string): Promise<StoredUser | null> {
    const [row] = await this.#db.query<UserRow>(`SELECT name, description, created FROM insitu_engine_users WHERE name = $1`, [name]);
    return row === undefined ? null : fromRow(row);
  }

  /** @inheritdoc */
  async setPasswordHash(name: string, hash: string | null): Promise<boolean> {
    return (await this.#db.query(`UPDATE insitu_engine_users SET password_hash = $1 WHERE name = $2 RETURNING 1`, [hash, name])).length > 0;
  }

  /** @inheritdoc */
  async getCredentials(name: string): Promise<StoredCredentials | null> {
    const [row] = await this.#db.query<{ created: Date; password_hash: string | null }>(
      `SELECT created, password_hash FROM insitu_engine_users WHERE name = $1`,
      [name],
    );
    return row === undefined ? null : { created: row.created, passwordHash: row.password_hash };
  }

  /** @inheritdoc */
  async listUsers(): Promise<StoredUser[]> {
    return (await this.#db.query<UserRow>(`SELECT name, description, created FROM insitu_engine_users ORDER BY name`)).map(fromRow);
  }

  /**
   * @inheritdoc
   * The user's row is locked first, so two engines dropping one user run one after the other (the
   * second finds no user).
   */
  deleteUser(name: string, opts: { cascade: boolean }): Promise<UserDeletion | null> {
    return this.#db.tx(async (c): Promise<UserDeletion | null> => {
      if ((await c.query(`SELECT 1 FROM insitu_engine_users WHERE name = $1 FOR UPDATE`, [name])).rowCount === 0) return null;
      const count = async (sql: string) => num((await c.query<{ n: string }>(sql, [name])).rows[0]!.n);
      const tables = await this.#tables.ownedByUser(c, name);
      const owned: UserObjects = {
        scripts: await count(`SELECT count(*) AS n FROM insitu_engine_scripts WHERE owner = $1`),
        datastores: await count(`SELECT count(*) AS n FROM insitu_engine_datastores WHERE owner = $1`),
        tables: tables.tables,
        grants: (await count(`SELECT count(*) AS n FROM insitu_engine_grants WHERE owner = $1`)) + tables.grants,
      };
      if (!opts.cascade && owned.scripts + owned.datastores + owned.tables + owned.grants > 0) return { deleted: false, owned, revoked: 0 };
      const tableGrantsRevoked = await this.#tables.dropForUser(c, name);
      const run = async (sql: string) => (await c.query(sql, [name])).rowCount ?? 0;
      await run(`DELETE FROM insitu_engine_grants WHERE owner = $1`);
      await run(`DELETE FROM insitu_engine_scripts WHERE owner = $1`);
      await run(`DELETE FROM insitu_engine_datastore_objects WHERE owner = $1`);
      await run(`DELETE FROM insitu_engine_datastores WHERE owner = $1`);
      const revoked = (await run(`DELETE FROM insitu_engine_grants WHERE grantee = $1`)) + tableGrantsRevoked;
      await run(`DELETE FROM insitu_engine_jobs WHERE owner = $1`);
      // Their schedules would otherwise fire as them (and, in open mode, register the name again).
      await run(`DELETE FROM insitu_engine_schedules WHERE owner = $1`);
      await run(`DELETE FROM insitu_engine_schedule_runs WHERE owner = $1`);
      await run(`DELETE FROM insitu_engine_users WHERE name = $1`);
      return { deleted: true, owned, revoked };
    });
  }
}
