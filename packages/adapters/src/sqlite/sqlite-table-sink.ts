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
  type IntoTarget,
  type TableOwnership,
  type TableSink,
} from '@insitu/core';
import type { Table } from 'apache-arrow';
import type BetterSqlite3 from 'better-sqlite3';
import type { ColumnKind } from './sqlite-column-kind.js';
import { declaredTypeOf } from './sqlite-column-kind.js';
import type { SqliteTablePrivileges } from './sqlite-table-privileges.js';
import { arrowCell, kindOfField, toSqlValue } from './sqlite-table-writer.js';

/** Staging tables of `into` writes: `insitu_into_<pid>_<random>` (engine tables: no UDF reaches them). */
const STAGING = /^insitu_into_(\d+)_[0-9a-f]+$/;

/** Runs a synchronous write when SQLite's write lock is free (the storage's `writeWhenUnlocked`). */
export type LockedWrite = <T>(write: () => T) => Promise<T>;

/**
 * Check that `user` may write `target` as its mode asks, and return the table as it is now (null when
 * there is none): `create` needs no table of that name, `append` a table the user may write, `replace`
 * one the user owns or none. Run at open and again inside the commit's transaction.
 */
export function checkTarget(db: BetterSqlite3.Database, privileges: SqliteTablePrivileges, target: Required<IntoTarget>, user: string): TableOwnership | null {
  const existing = privileges.ownership(target.table);
  if (existing === null) {
    if (target.mode === 'append') throw tableNotFound(target.table);
    return null;
  }
  const access = privileges.access(existing.name, user);
  if (target.mode === 'create') {
    throw new InsituError(ErrorCode.ALREADY_EXISTS, `table ${target.table} already exists; write into it with mode 'append' or 'replace'`);
  }
  if (target.mode === 'replace') {
    if (access !== 'owner') throw tableOwnerOnly(existing.name, user, 'replace');
  } else {
    if (access === 'none') throw tableNotFound(target.table);
    if (access === 'read') throw tableWriteRefused(existing.name, user);
  }
  const type = (db.prepare(`SELECT type FROM sqlite_schema WHERE name = ?`).get(existing.name) as { type: string }).type;
  if (type !== 'table') throw badInput(`${target.table} is a ${type}, not a table: into writes only tables`);
  return existing;
}

/**
 * An `into` write on SQLite: partitions' tables go into a staging table (each in its own short
 * transaction, so the write lock is never held between partitions and memory holds no more than the
 * table being written), which the commit turns into the target in one transaction: renamed (create,
 * replace) or inserted from (append). Until then the target is untouched, so a failed or cancelled
 * call, or a crash, leaves it as it was (a crashed engine's staging table is dropped at the next open).
 */
export class SqliteTableSink implements TableSink {
  readonly #db: BetterSqlite3.Database;
  readonly #privileges: SqliteTablePrivileges;
  readonly #write: LockedWrite;
  readonly #target: Required<IntoTarget>;
  readonly #user: string;
  readonly #staging = `insitu_into_${process.pid}_${randomBytes(8).toString('hex')}`;
  #names: string[] | null = null;
  #kinds: ColumnKind[] = [];
  #rows = 0;
  #ended = false;

  constructor(db: BetterSqlite3.Database, privileges: SqliteTablePrivileges, write: LockedWrite, target: Required<IntoTarget>, user: string) {
    this.#db = db;
    this.#privileges = privileges;
    this.#write = write;
    this.#target = target;
    this.#user = user;
    checkTarget(db, privileges, target, user);
  }

  /** @inheritdoc */
  async write(table: Table): Promise<void> {
    if (this.#ended) throw new InsituError(ErrorCode.RUNTIME_ERROR, 'into: the write has ended');
    const names = table.schema.fields.map((f) => checkIdentifier(f.name, 'result column', { reservedPrefixes: false }));
    const kinds = table.schema.fields.map(kindOfField);
    if (this.#names === null) {
      if (names.length === 0) throw new InsituError(ErrorCode.BAD_RESULT, 'into: the result table has no columns');
      if (new Set(names.map((n) => n.toLowerCase())).size !== names.length) throw new InsituError(ErrorCode.BAD_RESULT, 'into: result column names must be unique (case-insensitively)');
      if (this.#target.mode === 'append') this.#checkAppendColumns(names);
      const columns = names.map((n, i) => `${quoteIdentifier(n)} ${declaredTypeOf(kinds[i]!)}`).join(', ');
      await this.#write(() => this.#db.exec(`CREATE TABLE ${quoteIdentifier(this.#staging)} (${columns})`));
      this.#names = names;
      this.#kinds = kinds;
    } else if (names.length !== this.#names.length || names.some((n, i) => n !== this.#names![i] || (kinds[i] !== this.#kinds[i] && kinds[i] !== 'null' && this.#kinds[i] !== 'null'))) {
      throw new InsituError(
        ErrorCode.BAD_RESULT,
        `into: every partition must return the same columns; the first returned (${describe(this.#names, this.#kinds)}), a later one (${describe(names, kinds)})`,
      );
    }
    const cols = names.map((n) => table.getChild(n)!);
    const k = this.#kinds;
    const insert = this.#db.prepare(`INSERT INTO ${quoteIdentifier(this.#staging)} VALUES (${names.map(() => '?').join(', ')})`);
    const n = table.numRows;
    await this.#write(() =>
      this.#db.transaction(() => {
        for (let i = 0; i < n; i++) insert.run(cols.map((c, j) => toSqlValue(arrowCell(c.get(i), k[j]!), k[j]!)));
      }).immediate(),
    );
    this.#rows += n;
  }

  /** Append: every result column must be one of the target's. */
  #checkAppendColumns(names: readonly string[]): void {
    const have = new Set(
      (this.#db.prepare(`SELECT name FROM pragma_table_info(?)`).all(this.#target.table) as { name: string }[]).map((r) => r.name.toLowerCase()),
    );
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
      await this.#write(() =>
        this.#db.transaction(() => {
          const existing = checkTarget(this.#db, this.#privileges, this.#target, this.#user);
          if (names === null) return;
          const staging = quoteIdentifier(this.#staging);
          const q = quoteIdentifier(table);
          if (mode === 'append') {
            const list = names.map(quoteIdentifier).join(', ');
            this.#db.exec(`INSERT INTO ${q} (${list}) SELECT ${list} FROM ${staging}; DROP TABLE ${staging}`);
            return;
          }
          if (existing !== null) this.#db.exec(`DROP TABLE ${quoteIdentifier(existing.name)}`);
          this.#db.exec(`ALTER TABLE ${staging} RENAME TO ${q}`);
          // A replaced table keeps its grants; a new one starts with none.
          if (existing === null) this.#privileges.created(table, this.#user);
          else this.#privileges.setOwner(existing.name, this.#user);
        }).immediate(),
      );
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
      await this.#write(() => this.#db.exec(`DROP TABLE IF EXISTS ${quoteIdentifier(this.#staging)}`));
    } catch {
      // Left for the next open's clean-up (dropStaleStaging).
    }
  }
}

function describe(names: readonly string[], kinds: readonly ColumnKind[]): string {
  return names.map((n, i) => `${n} ${kinds[i]}`).join(', ');
}

/** Whether process `pid` runs on this host. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Drop `into` staging tables left by engines of this host that died mid-call. */
export function dropStaleStaging(db: BetterSqlite3.Database): void {
  const names = (db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'insitu\\_into\\_%' ESCAPE '\\'`).all() as { name: string }[]).map((r) => r.name);
  for (const name of names) {
    const m = STAGING.exec(name);
    if (m !== null && !alive(Number(m[1]))) db.exec(`DROP TABLE IF EXISTS ${quoteIdentifier(name)}`);
  }
}
