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
export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    // User tables' owners and grants; and the role user statements run as (see pg-statement-guard.ts):
    // NOLOGIN, no privilege on any engine table, CREATE on schema public for a write context's tables.
    // Roles are shared by every database of the server, so it may exist already (or be created by an
    // engine migrating another database at the same moment). The engine's role must be able to create
    // it and to SET ROLE to it (a superuser, or a role with CREATEROLE that this grants it to).
    id: '002-tables',
    sql: `
      CREATE TABLE insitu_engine_table_owners (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        created TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE TABLE insitu_engine_table_grants (
        name TEXT NOT NULL,
        grantee TEXT NOT NULL,
        privilege TEXT NOT NULL CHECK (privilege IN ('read', 'write')),
        created TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (name, grantee)
      );
      DO $$
      BEGIN
        BEGIN
          CREATE ROLE insitu_udf NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
        IF NOT pg_has_role(current_user, 'insitu_udf', 'MEMBER') THEN
          BEGIN
            EXECUTE format('GRANT insitu_udf TO %I', current_user);
          EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
          END;
        END IF;
      END
      $$;
      GRANT USAGE, CREATE ON SCHEMA public TO insitu_udf;
    `,
  },
];

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
