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
export const PG_MIGRATIONS: readonly PgMigration[] = [];

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
