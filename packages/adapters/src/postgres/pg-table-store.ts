import {
  ErrorCode,
  InsituError,
  badInput,
  tableOwnerOnly,
  type CreateTableRequest,
  type IntoTarget,
  type QuerySpec,
  type QueryPlan,
  type RowObject,
  type ScanOptions,
  type TableAccessLevel,
  type TableGrant,
  type TableOwnership,
  type TablePrivilegeStorage,
  type TableSink,
  type TableStorage,
  type UnownedTables,
} from '@insitu/core';
import type { Schema, Table } from 'apache-arrow';
import { compilePgQuery } from './pg-query-compiler.js';
import { PG_READ_TYPES } from './pg-column-kind.js';
import type { PgClient, PgDatabase } from './pg-database.js';
import { cursorBatches, onOneConnection, schemaOfFields } from './pg-scanner.js';
import { guardStatement, runGuarded, STATEMENT_ROLE, userSqlError, type GuardedStatement } from './pg-statement-guard.js';
import { PgTablePrivileges, USER_RELKINDS } from './pg-table-privileges.js';
import type { PgUserTables } from './pg-user-store.js';
import { PgTableSink } from './pg-table-sink.js';
import { createTableSql, insertRows, rowSource } from './pg-table-writer.js';

/** Options for {@link PgTableStore}. */
export interface PgTableStoreOptions {
  /** What every user may do with tables that have no insitu owner. */
  readonly unownedTables: UnownedTables;
  /** Milliseconds one user statement (a query's describe, count or whole scan) may run. Default 300000. */
  readonly statementTimeoutMs?: number;
}

/** A user query's error, naming the statement as the user wrote it. */
function asWritten(e: unknown, query: QuerySpec): InsituError {
  return userSqlError(e, query.text ?? query.sql);
}

/**
 * User tables, read-only queries and table privileges on PostgreSQL. User tables live in schema
 * `public`, owned by the role `insitu_udf` (created by migration `002-tables`); owners and grants in
 * `insitu_engine_table_owners` / `insitu_engine_table_grants`. Every query is checked by the statement
 * guard (pg-statement-guard.ts) against the reading user's privileges, then run in a READ ONLY
 * transaction as `insitu_udf` with a statement timeout; scans stream through a server-side cursor.
 *
 * `splitScan` / `splitGroups` are not implemented: on PostgreSQL the engine reads a call's partitions
 * itself (one cursor, in order) and ships them to the workers.
 */
export class PgTableStore implements TableStorage, TablePrivilegeStorage, PgUserTables {
  readonly #privileges: PgTablePrivileges;
  readonly #timeoutMs: number;

  constructor(
    readonly db: PgDatabase,
    readonly opts: PgTableStoreOptions,
  ) {
    this.#privileges = new PgTablePrivileges(opts.unownedTables);
    this.#timeoutMs = opts.statementTimeoutMs ?? 300_000;
  }

  /** The owners-and-grants reader this store uses (for the guard of `insitu.connect()`). */
  get privileges(): PgTablePrivileges {
    return this.#privileges;
  }

  /** See {@link TableStorage.compileQuery}: PostgreSQL SQL with `$n` placeholders (pg-query-compiler.ts). */
  compileQuery(plan: QueryPlan): QuerySpec {
    return compilePgQuery(plan);
  }

  /** See {@link TableStorage.createTable}. */
  async createTable(name: string, data: Table | readonly RowObject[], req: CreateTableRequest): Promise<void> {
    const src = rowSource(data);
    const p = this.#privileges;
    try {
      await this.db.tx(async (c) => {
        await c.query(`SELECT pg_advisory_xact_lock(hashtext('insitu_table:' || lower($1)))`, [name]);
        const existing = await p.ownership(c, name);
        if (existing !== null && req.overwrite !== true) {
          throw new InsituError(ErrorCode.ALREADY_EXISTS, `table ${name} already exists; pass { overwrite: true } to replace it`);
        }
        // Replacing drops the table: only its owner may, whether or not others can see it.
        if (existing !== null && (await p.access(c, existing.name, req.owner)) !== 'owner') throw tableOwnerOnly(existing.name, req.owner, 'replace');
        if (existing !== null) {
          const { rows } = await c.query<{ relkind: string }>(
            `SELECT c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = $1`,
            [existing.name],
          );
          try {
            await c.query(`DROP ${rows[0]?.relkind === 'v' ? 'VIEW' : 'TABLE'} "public"."${existing.name.replaceAll('"', '""')}"`);
          } catch (e) {
            // PostgreSQL keeps no view or FOREIGN KEY over a dropped table (SQLite leaves them to bind
            // to the new one): say what stands in the way rather than fail as bad SQL.
            if ((e as { code?: unknown }).code !== '2BP01') throw e;
            throw badInput(
              `table ${existing.name} cannot be replaced while views or FOREIGN KEYs of other tables depend on it (${String((e as { detail?: unknown }).detail ?? '').split('\n').length} of them); drop those first`,
              { cause: e },
            );
          }
        }
        // The table belongs to the role user statements run as, so a write context may change or drop it.
        await c.query(`SET LOCAL ROLE ${STATEMENT_ROLE}`);
        await c.query(createTableSql(name, src.names, src.kinds));
        await insertRows(c, name, src);
        await c.query('SET LOCAL ROLE NONE');
        // A replaced table keeps its grants; a new one starts with none (a dropped table's are gone).
        if (existing === null) await p.created(c, name, req.owner);
        else if (existing.name === name) await p.setOwner(c, name, req.owner);
        else {
          await c.query(`UPDATE insitu_engine_table_grants SET name = $2 WHERE name = $1`, [existing.name, name]);
          await p.dropped(c, existing.name);
          await p.setOwner(c, name, req.owner);
        }
      });
    } catch (e) {
      throw userSqlError(e, `CREATE TABLE ${name}`);
    }
  }

  /** See {@link TableStorage.openTableSink}. */
  openTableSink(target: Required<IntoTarget>, user: string): Promise<TableSink> {
    return PgTableSink.open(this.db, this.#privileges, target, user);
  }

  /** See {@link TableStorage.hasTable}. */
  async hasTable(name: string): Promise<boolean> {
    return this.db.withClient(async (c) => (await this.#privileges.resolve(c, name)) !== null);
  }

  async #guarded(c: PgClient, query: QuerySpec, user: string): Promise<GuardedStatement> {
    try {
      return await guardStatement(c, query.sql, query.params, { user, mode: 'query' }, this.#privileges, query.text ?? query.sql);
    } catch (e) {
      throw asWritten(e, query);
    }
  }

  /** See {@link TableStorage.describe}. */
  async describe(query: QuerySpec, user: string): Promise<Schema> {
    return this.db.withClient(async (c) => {
      const g = await this.#guarded(c, query, user);
      try {
        const res = await runGuarded(c, { mode: 'query', timeoutMs: this.#timeoutMs, text: query.text ?? query.sql }, () =>
          c.query({ text: `SELECT * FROM (${g.sql}\n) AS "insitu_q" LIMIT 0`, values: g.params, types: PG_READ_TYPES }),
        );
        return schemaOfFields(res.fields).schema;
      } catch (e) {
        throw asWritten(e, query);
      }
    });
  }

  /** See {@link TableStorage.count}. */
  async count(query: QuerySpec, user: string): Promise<number> {
    return this.db.withClient(async (c) => {
      const g = await this.#guarded(c, query, user);
      try {
        const res = await runGuarded(c, { mode: 'query', timeoutMs: this.#timeoutMs, text: query.text ?? query.sql }, () =>
          c.query<{ n: string }>(`SELECT count(*) AS n FROM (${g.sql}\n) AS "insitu_q"`, g.params),
        );
        return Number(res.rows[0]!.n);
      } catch (e) {
        throw asWritten(e, query);
      }
    });
  }

  /** See {@link TableStorage.scan}: one READ ONLY transaction and a server-side cursor for the whole scan. */
  scan(query: QuerySpec, opts: ScanOptions): AsyncIterable<Table> {
    const self = this;
    return onOneConnection(
      (fn) => this.db.withClient(fn),
      async function* (c) {
        const g = await self.#guarded(c, query, opts.user);
        await c.query('BEGIN READ ONLY');
        try {
          await c.query(`SET LOCAL statement_timeout = ${self.#timeoutMs}`);
          await c.query('SET LOCAL search_path = public');
          await c.query(`SET LOCAL ROLE ${STATEMENT_ROLE}`);
          yield* cursorBatches(c, g.sql, g.params, opts.batchRows, opts.breakOn, opts.signal);
          await c.query('COMMIT');
        } catch (e) {
          await c.query('ROLLBACK').catch(() => {});
          throw asWritten(e, query);
        } finally {
          // Stopped early (the consumer returned): end the transaction before the connection goes back.
          await c.query('ROLLBACK').catch(() => {});
        }
      },
    );
  }

  /** See {@link TablePrivilegeStorage.getTableOwnership}. */
  getTableOwnership(name: string): Promise<TableOwnership | null> {
    return this.db.withClient((c) => this.#privileges.ownership(c, name));
  }

  /** See {@link TablePrivilegeStorage.tableAccess}. */
  tableAccess(name: string, user: string): Promise<TableAccessLevel> {
    return this.db.withClient(async (c) => {
      const t = await this.#privileges.ownership(c, name);
      return t === null ? 'none' : this.#privileges.access(c, t.name, user);
    });
  }

  /** See {@link TablePrivilegeStorage.setTableOwner}. */
  setTableOwner(name: string, owner: string | null): Promise<void> {
    return this.db.withClient((c) => this.#privileges.setOwner(c, name, owner));
  }

  /** See {@link TablePrivilegeStorage.putTableGrant}. */
  putTableGrant(grant: TableGrant): Promise<void> {
    return this.db.withClient((c) => this.#privileges.putGrant(c, grant.table, grant.grantee, grant.privilege));
  }

  /** See {@link TablePrivilegeStorage.deleteTableGrant}. */
  deleteTableGrant(table: string, grantee: string): Promise<boolean> {
    return this.db.withClient((c) => this.#privileges.deleteGrant(c, table, grantee));
  }

  /** See {@link PgUserTables.ownedByUser}: owner rows of tables dropped outside insitu do not count. */
  async ownedByUser(client: PgClient, user: string): Promise<{ readonly tables: number; readonly grants: number }> {
    const { rows } = await client.query<{ tables: string; grants: string }>(
      `SELECT (SELECT count(*) FROM insitu_engine_table_owners o
                 JOIN pg_catalog.pg_class c ON c.relname = o.name AND c.relkind IN ${USER_RELKINDS}
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
                WHERE o.owner = $1) AS tables,
              (SELECT count(*) FROM insitu_engine_table_grants g JOIN insitu_engine_table_owners o ON o.name = g.name WHERE o.owner = $1) AS grants`,
      [user],
    );
    return { tables: Number(rows[0]!.tables), grants: Number(rows[0]!.grants) };
  }

  /** See {@link PgUserTables.dropForUser}: views first (they may read the tables), then tables. */
  async dropForUser(client: PgClient, user: string): Promise<number> {
    const { rows } = await client.query<{ name: string; relkind: string }>(
      `SELECT o.name, c.relkind FROM insitu_engine_table_owners o
         JOIN pg_catalog.pg_class c ON c.relname = o.name AND c.relkind IN ${USER_RELKINDS}
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        WHERE o.owner = $1 ORDER BY (c.relkind = 'v') DESC`,
      [user],
    );
    for (const r of rows) {
      const kind = r.relkind === 'v' ? 'VIEW' : r.relkind === 'm' ? 'MATERIALIZED VIEW' : 'TABLE';
      // Another user's view over this table goes too, as on SQLite (where it would stop working).
      await client.query(`DROP ${kind} IF EXISTS "public"."${r.name.replaceAll('"', '""')}" CASCADE`);
    }
    await client.query(`DELETE FROM insitu_engine_table_grants WHERE name IN (SELECT name FROM insitu_engine_table_owners WHERE owner = $1)`, [user]);
    await client.query(`DELETE FROM insitu_engine_table_owners WHERE owner = $1`, [user]);
    const revoked = await client.query(`DELETE FROM insitu_engine_table_grants WHERE grantee = $1 RETURNING 1`, [user]);
    return revoked.rows.length;
  }
}
