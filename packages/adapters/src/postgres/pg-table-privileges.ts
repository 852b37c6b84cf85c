import { PUBLIC, type TableAccessLevel, type TableOwnership, type UnownedTables } from '@insitu/core';

/** Anything that runs a statement with `$n` parameters: a pooled client (pg.PoolClient) or the pool. */
export interface PgQueryable {
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

/** Names of the relations of schema `public` that users see: tables, views, materialized and foreign tables. */
export const USER_RELKINDS = `('r', 'v', 'm', 'f', 'p')`;

/**
 * Owners and grants of user tables on PostgreSQL, kept in `insitu_engine_table_owners` and
 * `insitu_engine_table_grants` (migration `002-tables`). User tables live in schema `public`; a name is
 * matched exactly first, then case-insensitively (as on SQLite), so `FROM T` finds table "T".
 */
export class PgTablePrivileges {
  /** What every user may do with tables that have no insitu owner. */
  readonly unowned: UnownedTables;

  constructor(unowned: UnownedTables) {
    this.unowned = unowned;
  }

  /**
   * The user table or view `name` as the database spells it (exact match first, else the one that
   * matches case-insensitively), or null. Engine tables (`insitu_*`) are never user tables.
   */
  async resolve(q: PgQueryable, name: string): Promise<string | null> {
    const { rows } = await q.query<{ relname: string }>(
      `SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ${USER_RELKINDS} AND lower(c.relname) = lower($1)
        ORDER BY (c.relname = $1) DESC, c.relname LIMIT 1`,
      [name],
    );
    const found = rows[0]?.relname ?? null;
    return found === null || /^insitu_/i.test(found) ? null : found;
  }

  /** The table or view `name` and its owner, or null when there is none. */
  async ownership(q: PgQueryable, name: string): Promise<TableOwnership | null> {
    const real = await this.resolve(q, name);
    if (real === null) return null;
    const { rows } = await q.query<{ owner: string }>(`SELECT owner FROM insitu_engine_table_owners WHERE name = $1`, [real]);
    return { name: real, owner: rows[0]?.owner ?? null };
  }

  /** What `user` may do with table `name` (as the database spells it), by owner, grants and the unowned rule. */
  async access(q: PgQueryable, name: string, user: string): Promise<TableAccessLevel> {
    const { rows } = await q.query<{ owner: string | null; granted: 'read' | 'write' | null }>(
      `SELECT (SELECT owner FROM insitu_engine_table_owners WHERE name = $1) AS owner,
              (SELECT max(privilege) FROM insitu_engine_table_grants WHERE name = $1 AND grantee IN ($2, '${PUBLIC}')) AS granted`,
      [name, user],
    );
    const { owner, granted } = rows[0] ?? { owner: null, granted: null };
    if (owner === user) return 'owner';
    const base: TableAccessLevel = owner === null ? this.unowned : 'none';
    if (granted === 'write' || base === 'write') return 'write';
    if (granted === 'read' || base === 'read') return 'read';
    return 'none';
  }

  /** Make `owner` the owner of `name` (null: none), keeping its grants. */
  async setOwner(q: PgQueryable, name: string, owner: string | null): Promise<void> {
    if (owner === null) {
      await q.query(`DELETE FROM insitu_engine_table_owners WHERE name = $1`, [name]);
      return;
    }
    await q.query(
      `INSERT INTO insitu_engine_table_owners (name, owner) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET owner = excluded.owner`,
      [name, owner],
    );
  }

  /** A table made just now: `owner` owns it, and whatever a dropped table of that name had is gone. */
  async created(q: PgQueryable, name: string, owner: string): Promise<void> {
    await this.dropped(q, name);
    await this.setOwner(q, name, owner);
  }

  /** A table dropped: its owner row and grants go with it. */
  async dropped(q: PgQueryable, name: string): Promise<void> {
    await q.query(`DELETE FROM insitu_engine_table_owners WHERE name = $1`, [name]);
    await q.query(`DELETE FROM insitu_engine_table_grants WHERE name = $1`, [name]);
  }

  /** A table renamed: its owner and grants follow it to the new name. */
  async renamed(q: PgQueryable, from: string, to: string): Promise<void> {
    await this.dropped(q, to);
    await q.query(`UPDATE insitu_engine_table_owners SET name = $2 WHERE name = $1`, [from, to]);
    await q.query(`UPDATE insitu_engine_table_grants SET name = $2 WHERE name = $1`, [from, to]);
  }

  /** Grant `privilege` on `name` to `grantee`, replacing an earlier grant. */
  async putGrant(q: PgQueryable, name: string, grantee: string, privilege: 'read' | 'write'): Promise<void> {
    await q.query(
      `INSERT INTO insitu_engine_table_grants (name, grantee, privilege) VALUES ($1, $2, $3)
         ON CONFLICT (name, grantee) DO UPDATE SET privilege = excluded.privilege`,
      [name, grantee, privilege],
    );
  }

  /** Remove the grantee's grant on `name`; whether there was one. */
  async deleteGrant(q: PgQueryable, name: string, grantee: string): Promise<boolean> {
    const { rows } = await q.query(`DELETE FROM insitu_engine_table_grants WHERE name = $1 AND grantee = $2 RETURNING 1`, [name, grantee]);
    return rows.length > 0;
  }
}
