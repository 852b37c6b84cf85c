import type { PgClient } from './pg-database.js';
import { num } from './pg-row-values.js';
import type { PgUserTables } from './pg-user-store.js';

type OwnedRelation = { name: string; relkind: string };

/** DROP statement keyword of each relation kind a user may own (views first: tables may back them). */
const DROP_KIND: Record<string, string> = { v: 'VIEW', m: 'MATERIALIZED VIEW', f: 'FOREIGN TABLE', r: 'TABLE', p: 'TABLE' };

/** A PostgreSQL identifier, quoted. */
const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * The user-table part of dropping a user, read from the table-owner and table-grant engine tables (made
 * by migration 002-tables: names as PostgreSQL spells them, in schema `public`). Before that migration
 * has run there are no such tables and a user owns none. Used when the table store does not bring its
 * own {@link PgUserTables}.
 */
export class PgCatalogUserTables implements PgUserTables {
  /** @inheritdoc */
  async ownedByUser(c: PgClient, user: string): Promise<{ tables: number; grants: number }> {
    if (!(await hasTableCatalog(c))) return { tables: 0, grants: 0 };
    const tables = (await owned(c, user)).length;
    const grants = num(
      (
        await c.query<{ n: string }>(
          `SELECT count(*) AS n FROM insitu_engine_table_grants g JOIN insitu_engine_table_owners o ON o.name = g.name WHERE o.owner = $1`,
          [user],
        )
      ).rows[0]!.n,
    );
    return { tables, grants };
  }

  /** @inheritdoc Views go first, so a user's view over their own table never blocks the table's drop. */
  async dropForUser(c: PgClient, user: string): Promise<number> {
    if (!(await hasTableCatalog(c))) return 0;
    const rels = (await owned(c, user)).sort((a, b) => Number(a.relkind !== 'v' && a.relkind !== 'm') - Number(b.relkind !== 'v' && b.relkind !== 'm'));
    for (const r of rels) await c.query(`DROP ${DROP_KIND[r.relkind] ?? 'TABLE'} IF EXISTS public.${quoted(r.name)}`);
    await c.query(`DELETE FROM insitu_engine_table_grants WHERE name IN (SELECT name FROM insitu_engine_table_owners WHERE owner = $1)`, [user]);
    await c.query(`DELETE FROM insitu_engine_table_owners WHERE owner = $1`, [user]);
    return (await c.query(`DELETE FROM insitu_engine_table_grants WHERE grantee = $1`, [user])).rowCount ?? 0;
  }
}

/** Whether the table-owner and table-grant engine tables exist yet. */
async function hasTableCatalog(c: PgClient): Promise<boolean> {
  const { rows } = await c.query<{ ok: boolean }>(
    `SELECT to_regclass('public.insitu_engine_table_owners') IS NOT NULL AND to_regclass('public.insitu_engine_table_grants') IS NOT NULL AS ok`,
  );
  return rows[0]!.ok;
}

/** The relations `user` owns that still exist (owner rows of relations dropped outside insitu do not count). */
async function owned(c: PgClient, user: string): Promise<OwnedRelation[]> {
  const { rows } = await c.query<OwnedRelation>(
    `SELECT o.name, r.relkind::text AS relkind FROM insitu_engine_table_owners o
       JOIN pg_catalog.pg_class r ON r.relname = o.name
       JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace AND n.nspname = 'public'
      WHERE o.owner = $1 AND r.relkind IN ('r', 'v', 'm', 'f', 'p')`,
    [user],
  );
  return rows;
}
