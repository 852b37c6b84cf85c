import { randomBytes } from 'node:crypto';
import {
  ErrorCode,
  InsituError,
  badInput,
  checkIdentifier,
  quoteIdentifier,
  tableNotFound,
  tableOwnerOnly,
  tableWriteRefused,
  type ColumnKind,
  type IntoTarget,
  type TableOwnership,
  type TableSink,
} from '@insitu/core';
import type { Table } from 'apache-arrow';
import type { PgDatabase } from './pg-database.js';
import { STATEMENT_ROLE } from './pg-statement-guard.js';
import type { PgQueryable, PgTablePrivileges } from './pg-table-privileges.js';
import { createTableSql, insertRows, pgKindOfField, pgValue, type RowSource } from './pg-table-writer.js';
import { arrowCell } from '../sqlite/sqlite-table-writer.js';

/**
 * Check that `user` may write `target` as its mode asks, and return the table as it is now (null when
 * there is none): `create` needs no table of that name, `append` a table the user may write, `replace`
 * one the user owns or none. Run at open and again inside the commit's transaction.
 */
export async function checkPgTarget(q: PgQueryable, privileges: PgTablePrivileges, target: Required<IntoTarget>, user: string): Promise<TableOwnership | null> {
  const existing = await privileges.ownership(q, target.table);
  if (existing === null) {
    if (target.mode === 'append') throw tableNotFound(target.table);
    return null;
  }
  const access = await privileges.access(q, existing.name, user);
  if (target.mode === 'create') {
    throw new InsituError(ErrorCode.ALREADY_EXISTS, `table ${target.table} already exists; write into it with mode 'append' or 'replace'`);
  }
  if (target.mode === 'replace') {
    if (access !== 'owner') throw tableOwnerOnly(existing.name, user, 'replace');
  } else {
    if (access === 'none') throw tableNotFound(target.table);
    if (access === 'read') throw tableWriteRefused(existing.name, user);
  }
  const { rows } = await q.query<{ relkind: string }>(
    `SELECT c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = $1`,
    [existing.name],
  );
  if (rows[0]?.relkind !== 'r') throw badInput(`${target.table} is a view, not a table: into writes only tables`);
  return existing;
}

/**
 * An `into` write on PostgreSQL: partitions' tables go into a staging table `insitu_into_*` (out of
 * users' reach: the guard refuses `insitu_*` names), each in its own statement, and the commit turns it
 * into the target in one transaction: renamed (create, replace) or inserted from (append). Until then
 * the target is untouched, so a failed or cancelled call leaves it as it was. (A staging table of an
 * engine that died mid-call stays behind; it is unreachable and can be dropped by hand.)
 */
export class PgTableSink implements TableSink {
  readonly #db: PgDatabase;
  readonly #privileges: PgTablePrivileges;
  readonly #target: Required<IntoTarget>;
  readonly #user: string;
  readonly #lockTimeoutMs: number;
  readonly #staging = `insitu_into_${process.pid}_${randomBytes(8).toString('hex')}`;
  #names: string[] | null = null;
  #kinds: ColumnKind[] = [];
  #rows = 0;
  #ended = false;

  private constructor(db: PgDatabase, privileges: PgTablePrivileges, target: Required<IntoTarget>, user: string, lockTimeoutMs: number) {
    this.#db = db;
    this.#lockTimeoutMs = lockTimeoutMs;
    this.#privileges = privileges;
    this.#target = target;
    this.#user = user;
  }

  /**
   * Check the target (see {@link checkPgTarget}) and open a sink for it. `lockTimeoutMs`: how long the
   * commit waits for a lock another transaction holds on the target (a partition's) before it fails.
   */
  static async open(db: PgDatabase, privileges: PgTablePrivileges, target: Required<IntoTarget>, user: string, lockTimeoutMs: number): Promise<PgTableSink> {
    await db.withClient((c) => checkPgTarget(c, privileges, target, user));
    return new PgTableSink(db, privileges, target, user, lockTimeoutMs);
  }

  /** @inheritdoc */
  async write(table: Table): Promise<void> {
    if (this.#ended) throw new InsituError(ErrorCode.RUNTIME_ERROR, 'into: the write has ended');
    const names = table.schema.fields.map((f) => checkIdentifier(f.name, 'result column', { reservedPrefixes: false }));
    const kinds = table.schema.fields.map(pgKindOfField);
    if (this.#names === null) {
      if (names.length === 0) throw new InsituError(ErrorCode.BAD_RESULT, 'into: the result table has no columns');
      if (new Set(names.map((n) => n.toLowerCase())).size !== names.length) throw new InsituError(ErrorCode.BAD_RESULT, 'into: result column names must be unique (case-insensitively)');
      if (this.#target.mode === 'append') await this.#checkAppendColumns(names);
      await this.#db.tx(async (c) => {
        await c.query(`SET LOCAL ROLE ${STATEMENT_ROLE}`);
        await c.query(createTableSql(this.#staging, names, kinds));
      });
      this.#names = names;
      this.#kinds = kinds;
    } else if (names.length !== this.#names.length || names.some((n, i) => n !== this.#names![i] || (kinds[i] !== this.#kinds[i] && kinds[i] !== 'null' && this.#kinds[i] !== 'null'))) {
      throw new InsituError(
        ErrorCode.BAD_RESULT,
        `into: every partition must return the same columns; the first returned (${describe(this.#names, this.#kinds)}), a later one (${describe(names, kinds)})`,
      );
    }
    const k = this.#kinds;
    const cols = names.map((n) => table.getChild(n)!);
    const src: RowSource = {
      names,
      kinds: k,
      count: table.numRows,
      rowAt: (i) => cols.map((c, j) => pgValue(arrowCell(c.get(i), k[j]!), k[j]!)),
    };
    await this.#db.tx((c) => insertRows(c, this.#staging, src));
    this.#rows += table.numRows;
  }

  /** Append: every result column must be one of the target's. */
  async #checkAppendColumns(names: readonly string[]): Promise<void> {
    const rows = await this.#db.query<{ attname: string }>(
      `SELECT a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND lower(c.relname) = lower($1) AND a.attnum > 0 AND NOT a.attisdropped`,
      [this.#target.table],
    );
    const have = new Set(rows.map((r) => r.attname.toLowerCase()));
    const missing = names.filter((n) => !have.has(n.toLowerCase()));
    if (missing.length > 0) throw new InsituError(ErrorCode.BAD_RESULT, `into: table ${this.#target.table} has no column ${missing.join(', ')} (the result's columns are ${names.join(', ')})`);
  }

  /** @inheritdoc */
  async commit(): Promise<number> {
    if (this.#ended) throw new InsituError(ErrorCode.RUNTIME_ERROR, 'into: the write has ended');
    const { table, mode } = this.#target;
    const names = this.#names;
    if (names === null && mode !== 'append') {
      await this.abandon();
      throw new InsituError(ErrorCode.BAD_RESULT, `into: the call had no partitions, so there are no columns to create table ${table} with`);
    }
    try {
      await this.#db.tx(async (c) => {
        // One commit per target name at a time, across engines.
        await c.query(`SELECT pg_advisory_xact_lock(hashtext('insitu_table:' || lower($1)))`, [table]);
        // Set after the advisory lock (only engines' own short writes hold it): a lock a user's transaction
        // holds on the target (a long partition's) must not keep this commit waiting without limit.
        await c.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(this.#lockTimeoutMs))}`);
        const existing = await checkPgTarget(c, this.#privileges, this.#target, this.#user);
        if (names === null) return;
        const staging = `"public".${quoteIdentifier(this.#staging)}`;
        if (mode === 'append') {
          const target = existing!.name;
          // Columns matched case-insensitively to the target's spelling.
          const { rows } = await c.query<{ attname: string }>(
            `SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
            [`"public".${quoteIdentifier(target)}`],
          );
          const spelled = new Map(rows.map((r) => [r.attname.toLowerCase(), r.attname]));
          const into = names.map((n) => quoteIdentifier(spelled.get(n.toLowerCase()) ?? n)).join(', ');
          await c.query(`INSERT INTO "public".${quoteIdentifier(target)} (${into}) SELECT ${names.map(quoteIdentifier).join(', ')} FROM ${staging}`);
          await c.query(`DROP TABLE ${staging}`);
          return;
        }
        // CASCADE: other users' views over it go too, so a reader's view cannot keep its owner from replacing it.
        if (existing !== null) await c.query(`DROP TABLE "public".${quoteIdentifier(existing.name)} CASCADE`);
        await c.query(`ALTER TABLE ${staging} RENAME TO ${quoteIdentifier(table)}`);
        // A replaced table keeps its grants; a new one starts with none.
        if (existing === null) await this.#privileges.created(c, table, this.#user);
        else await this.#privileges.setOwner(c, existing.name, this.#user);
      });
    } catch (e) {
      await this.abandon();
      throw e;
    }
    this.#ended = true;
    return this.#rows;
  }

  /** @inheritdoc */
  async abandon(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#names === null) return;
    try {
      await this.#db.query(`DROP TABLE IF EXISTS "public".${quoteIdentifier(this.#staging)}`);
    } catch {
      // Left behind, unreachable by users (insitu_* names).
    }
  }
}

function describe(names: readonly string[], kinds: readonly ColumnKind[]): string {
  return names.map((n, i) => `${n} ${kinds[i]}`).join(', ');
}
