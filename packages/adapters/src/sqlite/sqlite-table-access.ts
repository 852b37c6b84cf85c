import { ErrorCode, InsituError, leadingKeyword, tableNotFound, tableWriteRefused } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';
import type { SqliteTablePrivileges } from './sqlite-table-privileges.js';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `name` as `text` spells it, as a whole word (SQLite compares names case-insensitively), or null. */
export function spelledIn(text: string, name: string): string | null {
  const m = new RegExp(`(?<![A-Za-z0-9_$\\u0080-\\uffff])${escapeRegExp(name)}(?![A-Za-z0-9_$\\u0080-\\uffff])`, 'i').exec(text);
  return m === null ? null : m[0];
}

/** One instruction of a statement's bytecode, as `EXPLAIN` lists it. */
export interface Op {
  readonly opcode: string;
  readonly p1: number;
  readonly p2: number;
  readonly p3: number;
  readonly p4: unknown;
  readonly p5: number;
}

/**
 * SQLite's bookkeeping tables, shared by every user's tables: SQLite reads and writes them along with
 * the tables they count (an AUTOINCREMENT insert, ANALYZE of your table), but a statement naming them
 * would read other users' counters and row counts, or set them (an AUTOINCREMENT counter at its
 * maximum fails every later insert of that table's owner).
 */
export const BOOKKEEPING = /sqlite_(?:sequence|stat\d)/i;

/** OPFLAG_P2ISREG: the b-tree's root page is in a register (one the statement itself creates). */
const P2_IS_REGISTER = 0x10;

/** Eponymous virtual tables every user may read: they read only their arguments. */
const EPONYMOUS_ALLOWED = ['json_each', 'json_tree'];

/** Opcodes only statements that change the schema have. */
const SCHEMA_OPCODES = new Set(['CreateBtree', 'Destroy', 'DropTable', 'DropIndex', 'DropTrigger', 'ParseSchema', 'VCreate', 'VDestroy', 'RenameTable']);

/** Pragmas that report on the table or index named in their argument. */
const TABLE_PRAGMAS = new Set(['table_info', 'table_xinfo', 'index_list', 'index_info', 'index_xinfo', 'foreign_key_list', 'foreign_key_check']);

/** Marks an eponymous virtual table in {@link SchemaMap.vtabs}. */
const EPONYMOUS = '';

/** Which table each b-tree and virtual table of the main database belongs to, for one schema version. */
interface SchemaMap {
  readonly version: number;
  /** Root page (of a table or of one of its indexes) → the table's name. */
  readonly roots: Map<number, string>;
  /** Root pages of the engine's own tables and their indexes. */
  readonly engineRoots: Set<number>;
  /** `vtab:ADDRESS` as EXPLAIN shows a virtual table → its name ({@link EPONYMOUS} for allowed eponymous ones). */
  readonly vtabs: Map<string, string>;
}

/** What a checked statement does besides reading and writing rows. */
export interface StatementReach {
  /** It creates, drops or alters schema objects (it writes sqlite_schema). */
  readonly schemaChange: boolean;
}

/**
 * Decides, from a compiled statement's bytecode, whether a user may run it: every b-tree it opens in
 * the main database (tables and their indexes, those of trigger sub-programs included, since EXPLAIN
 * lists them too) is mapped to its table through sqlite_schema's root pages, and every virtual table it
 * opens to its name by the address EXPLAIN shows. Views, joins, subqueries and CTEs compile to the opens
 * of the tables they read, so they need nothing of their own. The map is cached per schema version.
 */
export class SqliteTableAccess {
  readonly #db: BetterSqlite3.Database;
  readonly #privileges: SqliteTablePrivileges;
  readonly #version: BetterSqlite3.Statement;
  #map: SchemaMap | null = null;

  /** Check statements of connection `db` against the privileges kept in `privileges` (same database). */
  constructor(db: BetterSqlite3.Database, privileges: SqliteTablePrivileges) {
    this.#db = db;
    this.#privileges = privileges;
    this.#version = db.prepare('PRAGMA schema_version').pluck();
  }

  /** The owners and grants this checker reads. */
  get privileges(): SqliteTablePrivileges {
    return this.#privileges;
  }

  /** Root pages of the engine's tables (`insitu_*`) and their indexes. */
  engineRoots(): ReadonlySet<number> {
    return this.#current().engineRoots;
  }

  /**
   * Refuse the statement unless `user` may read every table it reads and write every table it writes:
   * a table they may not read is TABLE_NOT_FOUND, exactly like a missing one; a write to a table they
   * may only read is PRIVILEGE. Virtual tables other than json_each/json_tree and the user's readable
   * ones are PRIVILEGE. Returns whether the statement changes the schema (the caller then checks the
   * change itself, see `sqlite-schema-change.ts`).
   */
  check(ops: readonly Op[], user: string, sql = ''): StatementReach {
    if (BOOKKEEPING.test(sql)) {
      throw new InsituError(
        ErrorCode.PRIVILEGE,
        "sqlite_sequence and sqlite_stat* cannot be named here: they hold every user's AUTOINCREMENT counters and row counts (SQLite still keeps them for your own tables)",
      );
    }
    let map = this.#current();
    const need = new Map<string, 'read' | 'write'>();
    const want = (name: string, what: 'read' | 'write') => {
      if (need.get(name) !== 'write') need.set(name, what);
    };
    let schemaChange = false;
    let readsSchema = false;
    let runsSql = false;
    for (const op of ops) {
      if (SCHEMA_OPCODES.has(op.opcode)) schemaChange = true;
      if (op.opcode === 'OpenRead' || op.opcode === 'OpenWrite' || op.opcode === 'ReopenIdx') {
        // Database 1 is the connection's own temporary one; attached ones are refused by the guard.
        if (op.p3 !== 0) continue;
        const write = op.opcode === 'OpenWrite';
        if ((op.p5 & P2_IS_REGISTER) !== 0) {
          // A b-tree the statement creates itself (CREATE TABLE ... AS, CREATE INDEX).
          schemaChange = true;
          continue;
        }
        if (op.p2 === 1) {
          // sqlite_schema: writing it is a schema change, checked as one.
          if (write) schemaChange = true;
          else readsSchema = true;
          continue;
        }
        let name = map.roots.get(op.p2);
        if (name === undefined && !map.engineRoots.has(op.p2)) name = (map = this.#current(true)).roots.get(op.p2);
        if (map.engineRoots.has(op.p2)) continue; // refused by the statement guard
        if (name === undefined) throw new InsituError(ErrorCode.PRIVILEGE, 'this statement opens a b-tree that belongs to no table of the database');
        want(name, write ? 'write' : 'read');
      } else if (op.opcode === 'Clear') {
        // DELETE without WHERE empties the b-trees directly: P1 is the root page, P2 the database.
        if (op.p2 !== 0) continue;
        let name = map.roots.get(op.p1);
        if (name === undefined && !map.engineRoots.has(op.p1)) name = (map = this.#current(true)).roots.get(op.p1);
        if (map.engineRoots.has(op.p1)) throw new InsituError(ErrorCode.PRIVILEGE, 'statements cannot change engine tables (insitu_*)');
        if (name === undefined) throw new InsituError(ErrorCode.PRIVILEGE, 'this statement clears a b-tree that belongs to no table of the database');
        want(name, 'write');
      } else if (op.opcode === 'Destroy') {
        // DROP TABLE / DROP INDEX free a b-tree (P1, in database P3) without opening it. Checked here, before
        // it runs: dropping runs first and is judged after (see sqlite-schema-change.ts), and the time it
        // takes (and the write lock it waits for) would tell about a table the user cannot see.
        if (op.p3 !== 0) continue;
        let name = map.roots.get(op.p1);
        if (name === undefined && !map.engineRoots.has(op.p1)) name = (map = this.#current(true)).roots.get(op.p1);
        if (map.engineRoots.has(op.p1)) throw new InsituError(ErrorCode.PRIVILEGE, 'statements cannot change engine tables (insitu_*)');
        if (name !== undefined) want(name, 'write');
      } else if (op.opcode === 'SqlExec') {
        // Runs SQL text of its own, unseen here: only as part of a schema change (CREATE TABLE with
        // generated columns checks them by reading the new table), never otherwise (PRAGMA optimize).
        runsSql = true;
      } else if (op.opcode === 'IntegrityCk') {
        // PRAGMA integrity_check / quick_check read every b-tree of the database.
        throw new InsituError(ErrorCode.PRIVILEGE, "integrity checks read every user's tables and cannot run here");
      } else if (op.opcode === 'VOpen' || op.opcode === 'VUpdate') {
        const key = String(op.p4);
        let name = map.vtabs.get(key);
        if (name === undefined) name = (map = this.#current(true)).vtabs.get(key);
        if (name === undefined) {
          throw new InsituError(
            ErrorCode.PRIVILEGE,
            'this statement uses a virtual table that is not allowed here (allowed: json_each, json_tree and virtual tables of the database you may read)',
          );
        }
        if (name !== EPONYMOUS) want(name, op.opcode === 'VUpdate' ? 'write' : 'read');
      }
    }
    if (runsSql && !schemaChange) throw new InsituError(ErrorCode.PRIVILEGE, 'this statement runs SQL of its own that cannot be checked here');
    // Only DROP and ALTER read sqlite_schema for themselves; CREATE TABLE ... AS SELECT (or a CREATE
    // over a view of it) reading it would copy every user's table definitions into a table of the user.
    if (readsSchema && !(schemaChange && /^(ALTER|DROP)$/.test(leadingKeyword(sql)))) {
      // It names and defines every user's tables, invisible ones included.
      throw new InsituError(ErrorCode.PRIVILEGE, 'sqlite_schema (sqlite_master) cannot be read here: it lists every user\'s tables; use PRAGMA table_info(name) for a table you may read');
    }
    for (const [name, what] of need) {
      const level = this.#privileges.access(name, user);
      if (level === 'none') throw tableNotFound(this.spelled(sql, name));
      if (what === 'write' && level === 'read') throw tableWriteRefused(name, user);
    }
    return { schemaChange };
  }

  /**
   * The name of table `name` as the statement (or, failing that, a view the statement may read
   * through) spells it: SQLite names a missing table as it was written, so an invisible one must be
   * named the same way, or the case of the answer would tell that it exists.
   */
  spelled(sql: string, name: string): string {
    const direct = spelledIn(sql, name);
    if (direct !== null) return direct;
    const views = this.#db.prepare(`SELECT sql FROM sqlite_schema WHERE type = 'view' AND sql IS NOT NULL`).pluck().all() as string[];
    for (const v of views) {
      const inView = spelledIn(v.replace(/^[\s\S]*?\bAS\b/i, ''), name);
      if (inView !== null) return inView;
    }
    return name;
  }

  /**
   * A table or view of the database that `user` may not read and that the statement's text names,
   * spelled as the text spells it (null if none). A statement SQLite refused to compile answers as if
   * that table were missing: otherwise the compile error ("no such column", a wrong number of values)
   * would tell what the invisible table holds.
   */
  hiddenNamedIn(sql: string, user: string): string | null {
    const names = this.#db.prepare(`SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'insitu\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'`).pluck().all() as string[];
    for (const name of names) {
      const at = spelledIn(sql, name);
      if (at !== null && this.#privileges.access(name, user) === 'none') return at;
    }
    return null;
  }

  /**
   * Pragmas that report on one table (`table_info(name)`, `index_list(name)`, `index_info(index)`, ...)
   * are computed when compiled, without opening it: a table (or an index of a table) `user` may not read
   * is TABLE_NOT_FOUND, like a missing one. `table_list` (every table's name) is PRIVILEGE.
   */
  checkPragma(name: string, arg: string | null, schema: string | null, user: string): void {
    if (schema?.toLowerCase() === 'temp') return;
    const pragma = name.toLowerCase();
    if (pragma === 'table_list') throw new InsituError(ErrorCode.PRIVILEGE, "PRAGMA table_list cannot run here: it lists every user's tables");
    if (!TABLE_PRAGMAS.has(pragma) || arg === null) return;
    const row = this.#db.prepare(`SELECT tbl_name FROM sqlite_schema WHERE name = ? COLLATE NOCASE`).pluck().get(arg) as string | undefined;
    if (row === undefined || /^insitu_/i.test(row) || this.#privileges.access(row, user) === 'none') throw tableNotFound(arg);
  }

  /** The schema map, rebuilt when the schema version moved (or when `refresh`, after a miss). */
  #current(refresh = false): SchemaMap {
    const version = this.#version.get() as number;
    if (!refresh && this.#map !== null && this.#map.version === version) return this.#map;
    const rows = this.#db.prepare(`SELECT type, name, tbl_name, rootpage, sql FROM sqlite_schema`).all() as {
      type: string;
      name: string;
      tbl_name: string;
      rootpage: number | null;
      sql: string | null;
    }[];
    const roots = new Map<number, string>();
    const engineRoots = new Set<number>();
    const vtabs = new Map<string, string>();
    for (const r of rows) {
      if (typeof r.rootpage !== 'number' || r.rootpage <= 0) continue;
      if (/^insitu_/i.test(r.tbl_name)) engineRoots.add(r.rootpage);
      else roots.set(r.rootpage, r.tbl_name);
    }
    for (const name of EPONYMOUS_ALLOWED) {
      const address = this.#vtabAddress(`SELECT 1 FROM ${name}('[]')`);
      if (address !== null) vtabs.set(address, EPONYMOUS);
    }
    for (const r of rows) {
      if (r.type !== 'table' || r.sql === null || !/^\s*CREATE\s+VIRTUAL\s+TABLE/i.test(r.sql)) continue;
      const address = this.#vtabAddress(`SELECT 1 FROM "${r.name.replaceAll('"', '""')}"`);
      if (address !== null) vtabs.set(address, r.name);
    }
    this.#map = { version, roots, engineRoots, vtabs };
    return this.#map;
  }

  /** The address EXPLAIN shows for the virtual table a one-table SELECT opens (null if it cannot be opened). */
  #vtabAddress(sql: string): string | null {
    try {
      const ops = this.#db.prepare(`EXPLAIN ${sql}`).all() as Op[];
      const open = ops.find((o) => o.opcode === 'VOpen');
      return open === undefined ? null : String(open.p4);
    } catch {
      return null; // a module this SQLite lacks: statements on it fail to compile anyway
    }
  }
}
