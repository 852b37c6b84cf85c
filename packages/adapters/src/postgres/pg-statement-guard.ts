import { ErrorCode, InsituError, badInput, tableNotFound, tableOwnerOnly, tableWriteRefused, type SqlParam } from '@insitu/core';
import { parse } from 'libpg-query';
import { ALLOWED_FUNCTIONS, ALLOWED_TYPES } from './pg-function-allowlist.js';
import { rebindPlaceholders } from './pg-placeholders.js';
import { USER_RELKINDS, type PgQueryable, type PgTablePrivileges } from './pg-table-privileges.js';
import { tablesReachedByWrite } from './pg-trigger-reach.js';

/**
 * What a statement may do: `query` one SELECT that returns rows (query proxies, `conn.query`); `read`
 * one read-only statement (`conn.execute` in a read-only context); `write` also INSERT / UPDATE / DELETE
 * on tables the user may write and CREATE / DROP of tables, views and indexes (a write context).
 */
export type PgStatementMode = 'query' | 'read' | 'write';

/** Whose statement it is, and what it may do. */
export interface PgStatementUser {
  readonly user: string;
  readonly mode: PgStatementMode;
}

/** A statement that passed {@link guardStatement}, ready to run (inside {@link runGuarded}). */
export interface GuardedStatement {
  /** The text to run: `$n` placeholders, every table reference pinned to schema `public` as the database spells it. */
  readonly sql: string;
  /** The parameters, as the driver binds them. */
  readonly params: unknown[];
  /** The statement as the caller wrote it (for messages). */
  readonly text: string;
  /** Whether it is a plain SELECT (returns rows, changes nothing). */
  readonly select: boolean;
  /**
   * The schema change it makes, which the caller records after it ran (see {@link recordSchemaChange}):
   * a table or view it creates (owned by the user), the tables and views it drops.
   */
  readonly creates: string | null;
  readonly drops: readonly string[];
  /** The table or view it renames (`ALTER TABLE|VIEW ... RENAME TO`), whose owner and grants follow the new name. */
  readonly renames: { readonly from: string; readonly to: string } | null;
}

/** A node of PostgreSQL's parse tree as libpg-query gives it. */
type Node = Record<string, unknown>;

/** One table reference found in the tree. */
interface TableRef {
  readonly schema: string | null;
  readonly name: string;
  readonly location: number;
  readonly hasAlias: boolean;
  readonly write: boolean;
  /** A name the statement creates (CREATE TABLE / VIEW target): must not exist yet, not resolved. */
  readonly creates: boolean;
  /** The tree-location may not be rewritten (DROP objects carry no location). */
  readonly rewritable: boolean;
  /** Where the grammar takes no alias (CREATE INDEX ON, REFERENCES): rewritten without `AS`. */
  readonly noAlias?: boolean;
  /** A FOREIGN KEY's referenced table: only its owner may bind their table to it (as on SQLite). */
  readonly mustOwn?: boolean;
}

const DATA_CHANGES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

function refused(what: string, text: string): InsituError {
  return new InsituError(ErrorCode.PRIVILEGE, `${what} is not allowed here: ${text.slice(0, 200)}`);
}

function engineTable(): InsituError {
  return badInput('queries cannot read engine tables (insitu_*); use the scripts and datastores APIs instead');
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Driver values for `?` parameters: Uint8Array as Buffer, bigint as text; anything else unbindable is BAD_INPUT. */
export function pgBindable(params: readonly SqlParam[]): unknown[] {
  return params.map((p) => {
    if (p === null || typeof p === 'boolean' || typeof p === 'number' || typeof p === 'string' || p instanceof Date) return p;
    if (typeof p === 'bigint') return p.toString();
    if (p instanceof Uint8Array) return Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
    throw badInput(`query parameter of type ${typeof p} cannot be bound; use null, boolean, number, bigint, string, Date or Uint8Array`);
  });
}

/**
 * Walks one statement's parse tree: collects table references (with CTE names scoped as PostgreSQL
 * scopes them: a CTE is visible in later CTEs of its WITH, all of them when RECURSIVE, and the body),
 * and refuses what no mode allows: functions off the allowlist, casts to types off the allowlist,
 * schema-qualified operators, locking clauses and SELECT INTO, data-changing CTEs outside `write`.
 */
class TreeWalker {
  readonly refs: TableRef[] = [];
  /** Locations of column references (`[table.]column`), for matching their names case-insensitively. */
  readonly columnRefs: number[] = [];
  constructor(
    readonly text: string,
    readonly mode: PgStatementMode,
  ) {}

  walk(node: unknown, scope: ReadonlySet<string>): void {
    if (Array.isArray(node)) {
      for (const n of node) this.walk(n, scope);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node as Node)) {
      if (value === null || typeof value !== 'object') continue;
      const v = value as Node;
      switch (key) {
        case 'RangeVar':
          this.#rangeVar(v, scope, false);
          continue;
        case 'ColumnRef':
          if (typeof v['location'] === 'number') this.columnRefs.push(v['location']);
          break;
        case 'FuncCall':
          this.#funcCall(v);
          break;
        case 'TypeCast':
        case 'ColumnDef':
          if (v['typeName'] !== undefined) this.#typeName(v['typeName'] as Node);
          break;
        case 'TypeName':
          this.#typeName(v);
          break;
        case 'A_Expr':
          this.#operator(v['name']);
          break;
        case 'SelectStmt':
          if (v['lockingClause'] !== undefined) throw this.#notHere('SELECT ... FOR UPDATE / FOR SHARE');
          if (v['intoClause'] !== undefined) throw this.#notHere('SELECT ... INTO');
          this.#withScoped(v, scope);
          continue;
        case 'InsertStmt':
        case 'UpdateStmt':
        case 'DeleteStmt':
        case 'MergeStmt':
          if (this.mode !== 'write') throw this.#writes();
          this.#withScoped(v, scope);
          continue;
        case 'Constraint':
          if (v['pktable'] !== undefined) {
            this.#rangeVar(v['pktable'] as Node, new Set(), false, true);
            this.refs[this.refs.length - 1] = { ...this.refs.at(-1)!, noAlias: true, mustOwn: true };
          }
          break;
        case 'TableLikeClause':
          throw refused('CREATE TABLE ... (LIKE ...)', this.text);
        case 'XmlExpr':
        case 'XmlSerialize':
        case 'CurrentOfExpr':
        case 'RangeTableFunc':
          throw refused('XML functions and cursors', this.text);
        default:
          break;
      }
      this.walk(v, scope);
    }
  }

  /** A statement with an optional WITH clause: its CTEs scoped, then the rest with all of them visible. */
  #withScoped(stmt: Node, outer: ReadonlySet<string>): void {
    const wc = stmt['withClause'] as Node | undefined;
    let scope = outer;
    if (wc !== undefined) {
      const ctes = ((wc['ctes'] as Node[] | undefined) ?? []).map((c) => c['CommonTableExpr'] as Node);
      const names = ctes.map((c) => String(c['ctename']));
      const recursive = wc['recursive'] === true;
      ctes.forEach((cte, i) => {
        const visible = new Set([...outer, ...(recursive ? names : names.slice(0, i))]);
        const q = cte['ctequery'] as Node;
        if (this.mode !== 'write' && Object.keys(q).some((k) => DATA_CHANGES.has(k))) throw this.#writes();
        this.walk(q, visible);
      });
      scope = new Set([...outer, ...names]);
    }
    for (const [k, v] of Object.entries(stmt)) {
      if (k === 'withClause') continue;
      if (k === 'relation' && v !== null && typeof v === 'object') {
        // The target of INSERT / UPDATE / DELETE / MERGE: always a table, never a CTE.
        this.#rangeVar(v as Node, new Set(), true);
        continue;
      }
      this.walk(v, scope);
    }
  }

  #rangeVar(rv: Node, scope: ReadonlySet<string>, write: boolean, reference = false, creates = false): void {
    const schema = typeof rv['schemaname'] === 'string' ? rv['schemaname'] : null;
    const name = String(rv['relname']);
    if (typeof rv['catalogname'] === 'string') throw refused('a table of another database', this.text);
    if (schema === null && scope.has(name) && !write) return;
    if (rv['relpersistence'] === 't') throw refused('temporary tables', this.text);
    this.refs.push({
      schema,
      name,
      location: typeof rv['location'] === 'number' ? rv['location'] : -1,
      hasAlias: rv['alias'] !== undefined,
      write: write && !reference,
      creates,
      rewritable: !creates,
    });
  }

  /** A target that the statement creates (CREATE TABLE, CREATE VIEW, CREATE TABLE AS). */
  creates(rv: Node): void {
    this.#rangeVar(rv, new Set(), true, false, true);
  }

  #funcCall(f: Node): void {
    const parts = ((f['funcname'] as Node[] | undefined) ?? []).map((p) => String((p['String'] as Node | undefined)?.['sval'] ?? ''));
    const name = parts.at(-1)!.toLowerCase();
    const schema = parts.length > 1 ? parts.slice(0, -1).join('.') : null;
    if ((schema !== null && schema !== 'pg_catalog') || !ALLOWED_FUNCTIONS.has(name)) {
      throw refused(`the function ${parts.join('.')}()`, this.text);
    }
  }

  #typeName(t: Node): void {
    const parts = ((t['names'] as Node[] | undefined) ?? []).map((p) => String((p['String'] as Node | undefined)?.['sval'] ?? ''));
    const name = parts.at(-1)?.toLowerCase() ?? '';
    const schema = parts.length > 1 ? parts.slice(0, -1).join('.') : null;
    if ((schema !== null && schema !== 'pg_catalog') || !ALLOWED_TYPES.has(name)) throw refused(`the type ${parts.join('.')}`, this.text);
  }

  #operator(name: unknown): void {
    if (Array.isArray(name) && name.length > 1) {
      const schema = String(((name[0] as Node)['String'] as Node | undefined)?.['sval'] ?? '');
      if (schema !== 'pg_catalog') throw refused(`an operator of schema ${schema}`, this.text);
    }
  }

  #notHere(what: string): InsituError {
    return this.mode === 'query' ? badInput(`${what} cannot run in a query (a plain SELECT): ${this.text.slice(0, 200)}`) : refused(what, this.text);
  }

  #writes(): InsituError {
    const msg = `this statement would write, and ${this.mode === 'query' ? 'a query must be read-only (a SELECT)' : "this call's database context is read-only; make the call with { context: 'write' } to change tables"}: ${this.text.slice(0, 200)}`;
    return this.mode === 'query' ? badInput(msg) : new InsituError(ErrorCode.PRIVILEGE, msg);
  }
}

/** The one statement's node and its type, or BAD_INPUT (syntax error, none, several). */
async function parseOne(sql: string, text: string): Promise<{ type: string; node: Node }> {
  let tree: { stmts?: { stmt: Node }[] };
  try {
    tree = (await parse(sql)) as { stmts?: { stmt: Node }[] };
  } catch (e) {
    throw badInput(`query is not valid SQL: ${e instanceof Error ? e.message : String(e)} (in: ${text.slice(0, 200)})`, { cause: e });
  }
  const stmts = tree.stmts ?? [];
  if (stmts.length !== 1) throw badInput(stmts.length === 0 ? 'SQL text must hold a statement' : 'a query must be a single SQL statement; remove the extra statements');
  const [type, node] = Object.entries(stmts[0]!.stmt)[0]!;
  return { type, node: node as Node };
}

/** Names of `DROP` objects: `[schema.]name` lists. */
function dropNames(node: Node): { schema: string | null; name: string }[] {
  return ((node['objects'] as Node[] | undefined) ?? []).map((o) => {
    const parts = (((o['List'] as Node | undefined)?.['items'] as Node[] | undefined) ?? []).map((p) => String((p['String'] as Node | undefined)?.['sval'] ?? ''));
    return { schema: parts.length > 1 ? parts.slice(0, -1).join('.') : null, name: parts.at(-1) ?? '' };
  });
}

/** The relations a view reads, recursively through views, the view itself included: [schema, name] of each, and whether it is a view. */
async function viewSources(q: PgQueryable, schema: string, name: string): Promise<{ schema: string; name: string; view: boolean }[]> {
  const { rows } = await q.query<{ nspname: string; relname: string; relkind: string }>(
    `WITH RECURSIVE reads(oid) AS (
        SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('v', 'm')
        UNION
        SELECT d.refobjid FROM reads
          JOIN pg_catalog.pg_rewrite r ON r.ev_class = reads.oid
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                      AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> reads.oid)
      SELECT n.nspname, c.relname, c.relkind FROM reads JOIN pg_catalog.pg_class c ON c.oid = reads.oid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`,
    [schema, name],
  );
  return rows.map((r) => ({ schema: r.nspname, name: r.relname, view: r.relkind === 'v' }));
}

/**
 * Check one statement a user wrote (with `?` or `$n` placeholders) before anything runs, from
 * PostgreSQL's own parse tree (libpg-query):
 * - exactly one statement (BAD_INPUT otherwise); in `query` mode a SELECT (or VALUES) without locking
 *   clauses or INTO and without data-changing CTEs (BAD_INPUT); in `read` mode the same (PRIVILEGE for a
 *   write); in `write` mode also INSERT / UPDATE / DELETE and CREATE TABLE [AS] / CREATE VIEW / CREATE
 *   INDEX / DROP TABLE|VIEW|INDEX / ALTER TABLE|VIEW ... RENAME TO (the owner's); EXPLAIN is BAD_INPUT;
 *   every other statement (COPY, DO, SET, transaction control, GRANT, other ALTERs, ...) is PRIVILEGE;
 * - a written table's triggers and rules (an administrator's) reach only tables the user may write
 *   (pg-trigger-reach.ts); a dropped table no other table references (FOREIGN KEY), as on SQLite;
 * - every table reference (in CTEs, subqueries, joins, views recursively) is a table or view of schema
 *   `public` that `user` may read (TABLE_NOT_FOUND otherwise, as for a missing one) and, when written,
 *   write (PRIVILEGE); engine tables (`insitu_*`, any case or qualification) are refused; other schemas
 *   and system catalogs are unreachable (TABLE_NOT_FOUND);
 * - function calls only from {@link ALLOWED_FUNCTIONS}, casts only to {@link ALLOWED_TYPES}.
 * The returned text has `$n` placeholders and each table reference pinned to `"public"."Name"` as the
 * database spells it (the name is matched case-insensitively, as on SQLite).
 * Run it with {@link runGuarded}: read-only transaction, statement timeout and a role without any
 * privilege on engine tables, as defence in depth.
 */
export async function guardStatement(
  client: PgQueryable,
  sql: string,
  params: readonly SqlParam[],
  who: PgStatementUser,
  access: PgTablePrivileges,
  text = sql,
): Promise<GuardedStatement> {
  if (typeof sql !== 'string' || sql.trim() === '') throw badInput('SQL text must be a non-empty string');
  const bound = pgBindable(params);
  const rebound = rebindPlaceholders(sql, params.length);
  const { type, node } = await parseOne(rebound, text);
  // As on SQLite: a plan would describe the tables, and EXPLAIN ANALYZE would run the statement unchecked.
  if (type === 'ExplainStmt') throw badInput(`EXPLAIN statements cannot run here: ${text.slice(0, 200)}`);
  const walker = new TreeWalker(text, who.mode);
  const drops: { schema: string | null; name: string }[] = [];
  let dropIndexes = false;
  let missingOk = false;
  let renameTo: string | null = null;
  const isSelect = type === 'SelectStmt';
  if (isSelect) walker.walk({ SelectStmt: node }, new Set());
  else if (who.mode === 'query') {
    throw badInput(`a query must be read-only (a SELECT): ${text.slice(0, 200)}`);
  } else if (DATA_CHANGES.has(type)) {
    if (type === 'MergeStmt') throw refused('MERGE', text);
    walker.walk({ [type]: node }, new Set());
  } else if (who.mode !== 'write') {
    throw ['CreateStmt', 'CreateTableAsStmt', 'ViewStmt', 'IndexStmt', 'DropStmt', 'RenameStmt'].includes(type)
      ? new InsituError(ErrorCode.PRIVILEGE, `this statement would write, and this call's database context is read-only; make the call with { context: 'write' } to change tables: ${text.slice(0, 200)}`)
      : refused(`this statement (${type.replace(/Stmt$/, '')})`, text);
  } else if (type === 'CreateStmt') {
    if (node['inhRelations'] !== undefined || node['partbound'] !== undefined || node['ofTypename'] !== undefined) throw refused('CREATE TABLE ... INHERITS / PARTITION OF / OF', text);
    walker.creates(node['relation'] as Node);
    walker.walk(node['tableElts'], new Set());
  } else if (type === 'CreateTableAsStmt') {
    if (node['objtype'] !== 'OBJECT_TABLE') throw refused('CREATE MATERIALIZED VIEW', text);
    walker.creates((node['into'] as Node)['rel'] as Node);
    walker.walk(node['query'], new Set());
  } else if (type === 'ViewStmt') {
    walker.creates(node['view'] as Node);
    walker.walk(node['query'], new Set());
  } else if (type === 'IndexStmt') {
    walker.walk({ RangeVar: node['relation'] }, new Set());
    walker.refs[walker.refs.length - 1] = { ...walker.refs.at(-1)!, write: true, noAlias: true };
    walker.walk(node['indexParams'], new Set());
    walker.walk(node['whereClause'], new Set());
  } else if (type === 'RenameStmt') {
    // ALTER TABLE|VIEW name RENAME TO other: the owner's, as on SQLite (other ALTERs are refused below).
    const kind = node['renameType'];
    if ((kind !== 'OBJECT_TABLE' && kind !== 'OBJECT_VIEW') || node['subname'] !== undefined) throw refused('this ALTER ... RENAME', text);
    walker.walk({ RangeVar: node['relation'] }, new Set());
    walker.refs[walker.refs.length - 1] = { ...walker.refs.at(-1)!, write: true, rewritable: false };
    renameTo = String(node['newname']);
  } else if (type === 'DropStmt') {
    const kind = node['removeType'];
    if (kind !== 'OBJECT_TABLE' && kind !== 'OBJECT_VIEW' && kind !== 'OBJECT_INDEX') throw refused('this DROP', text);
    if (node['behavior'] === 'DROP_CASCADE') throw refused('DROP ... CASCADE', text);
    missingOk = node['missing_ok'] === true;
    dropIndexes = kind === 'OBJECT_INDEX';
    drops.push(...dropNames(node));
  } else {
    throw refused(`this statement (${type.replace(/Stmt$/, '')})`, text);
  }

  // Resolve and check every reference; collect the rewrites of their text.
  const edits: Edit[] = [];
  const resolved = new Set<string>();
  let creates: string | null = null;
  const check = async (schema: string | null, name: string, write: boolean): Promise<string | null> => {
    if (/^insitu_/i.test(name)) {
      if (write) throw new InsituError(ErrorCode.PRIVILEGE, 'statements cannot change engine tables (insitu_*)');
      throw engineTable();
    }
    if (schema !== null && schema !== 'public') throw tableNotFound(schema === null ? name : `${schema}.${name}`);
    const real = await access.resolve(client, name);
    if (real === null) return null;
    const sources = await viewSources(client, 'public', real);
    if (sources.length === 0) {
      const level = await access.access(client, real, who.user);
      if (level === 'none') return null;
      if (write && level === 'read') throw tableWriteRefused(real, who.user);
    } else {
      // A view is decided by the tables underneath, as on SQLite (where it compiles to their reads): who
      // may read them may read it, whoever made it; a write through it must be allowed on each of them.
      for (const src of sources) {
        if (/^insitu_/i.test(src.name)) throw engineTable();
        if (src.schema !== 'public') return null;
        if (src.view) continue; // this view, or one it reads: decided by the tables under it
        const level = await access.access(client, src.name, who.user);
        if (level === 'none') return null;
        if (write && level === 'read') throw tableWriteRefused(src.name, who.user);
      }
    }
    await letRoleReach(client, real, write);
    return real;
  };
  // Every table the statement names must be visible before any is refused for writing (as on SQLite,
  // where the statement compiles only when all exist): a missing table is told before a refused write.
  const named = (ref: TableRef) => {
    const name = ref.location >= 0 ? spelledAt(rebound, ref.location, ref.name) : ref.name;
    // Query proxies pin their table to schema public: the user named the table alone.
    return ref.schema === null || ref.schema === 'public' ? name : `${ref.schema}.${name}`;
  };
  for (const ref of walker.refs) {
    if (ref.creates || /^insitu_/i.test(ref.name)) continue;
    if ((await check(ref.schema, ref.name, false)) === null) throw tableNotFound(named(ref));
  }
  for (const ref of walker.refs) {
    if (ref.creates) {
      if (/^insitu_/i.test(ref.name)) throw new InsituError(ErrorCode.PRIVILEGE, 'tables named insitu_* are the engine\'s');
      if (ref.schema !== null && ref.schema !== 'public') throw refused(`creating objects in schema ${ref.schema}`, text);
      const existing = await access.resolve(client, ref.name);
      if (existing !== null) throw new InsituError(ErrorCode.ALREADY_EXISTS, `table ${existing} already exists`);
      creates = ref.name;
      continue;
    }
    const real = await check(ref.schema, ref.name, ref.write);
    if (real === null) throw tableNotFound(named(ref));
    if (ref.write) {
      // Triggers and rules an administrator attached run as part of the write: what they reach, the
      // writer must be able to write.
      // A write through a view writes the tables under it, firing their triggers too.
      const written = [real, ...(await viewSources(client, 'public', real)).filter((v) => !v.view).map((v) => v.name)];
      for (const target of written) {
        for (const other of await tablesReachedByWrite(client, target)) {
          if (!written.includes(other) && (await check('public', other, true)) === null) throw tableNotFound(other);
        }
      }
    }
    if (ref.mustOwn === true && (await access.access(client, real, who.user)) !== 'owner') {
      throw new InsituError(ErrorCode.PRIVILEGE, `a FOREIGN KEY may reference only your own tables; ${real} is not yours`);
    }
    resolved.add(real);
    if (ref.rewritable && ref.location >= 0) edits.push({ at: ref.location, kind: 'table', name: real, alias: ref.hasAlias || ref.noAlias === true ? null : ref.name });
  }
  const dropped: string[] = [];
  for (const d of drops) {
    if (dropIndexes) {
      const owner = await indexTable(client, d.schema, d.name);
      if (owner === null || (await check('public', owner, true)) === null) {
        if (missingOk) continue;
        throw new InsituError(ErrorCode.BAD_INPUT, `index ${d.name} does not exist`);
      }
      if ((await access.access(client, owner, who.user)) !== 'owner') throw tableOwnerOnly(owner, who.user, 'drop an index of');
      continue;
    }
    const real = /^insitu_/i.test(d.name) ? await check(d.schema, d.name, true) : await check(d.schema, d.name, false);
    if (real === null) {
      if (missingOk) continue;
      throw tableNotFound(spelledIn(rebound, d.name));
    }
    if ((await access.access(client, real, who.user)) !== 'owner') throw tableOwnerOnly(real, who.user, 'drop');
    dropped.push(real);
  }
  for (const parent of dropped) {
    // PostgreSQL would refuse the drop as a dependency; SQLite's guard refuses it as a privilege (a
    // FOREIGN KEY left behind would bind to the next table of that name): the same answer on both.
    const { rows } = await client.query<{ relname: string }>(
      `SELECT DISTINCT c.relname FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
         JOIN pg_catalog.pg_class p ON p.oid = k.confrelid JOIN pg_catalog.pg_namespace n ON n.oid = p.relnamespace
        WHERE k.contype = 'f' AND n.nspname = 'public' AND p.relname = $1 AND k.conrelid <> k.confrelid ORDER BY c.relname`,
      [parent],
    );
    const child = rows.map((r) => r.relname).find((r) => !dropped.includes(r));
    if (child !== undefined) {
      throw new InsituError(ErrorCode.PRIVILEGE, `cannot drop ${parent}: table ${child} references it (FOREIGN KEY); drop or change ${child} first`);
    }
  }
  let renames: { from: string; to: string } | null = null;
  if (renameTo !== null) {
    const from = [...resolved][0]!;
    if ((await access.access(client, from, who.user)) !== 'owner') throw tableOwnerOnly(from, who.user, 'rename');
    if (/^insitu_/i.test(renameTo)) throw new InsituError(ErrorCode.PRIVILEGE, "tables named insitu_* are the engine's");
    const taken = await access.resolve(client, renameTo);
    if (taken !== null && taken !== from) throw badInput(`there is already another table or view with this name: ${spelledIn(rebound, renameTo)}`);
    renames = { from, to: renameTo };
  }
  if (walker.columnRefs.length > 0 && resolved.size > 0) {
    const spelled = await columnSpellings(client, [...resolved]);
    for (const at of walker.columnRefs) edits.push({ at, kind: 'columns', spelled });
  }
  const out =
    renames !== null
      ? `ALTER ${node['renameType'] === 'OBJECT_VIEW' ? 'VIEW' : 'TABLE'} "public".${quoteIdent(renames.from)} RENAME TO ${quoteIdent(renames.to)}`
      : dropIndexes || drops.length === 0
        ? rewriteNames(rebound, edits)
        : dropText(node, dropped, dropIndexes);
  return { sql: out, params: bound, text, select: isSelect, creates, drops: dropped, renames };
}

/**
 * Give {@link STATEMENT_ROLE} the privilege on a user table it lacks (a table made outside insitu, that
 * the user may read or write by the unowned-tables rule or a grant): the guard has just decided the
 * user may, and the role is only the second line of defence. Tables insitu creates are the role's own.
 */
async function letRoleReach(q: PgQueryable, table: string, write: boolean): Promise<void> {
  const privileges = write ? 'SELECT, INSERT, UPDATE, DELETE' : 'SELECT';
  // has_table_privilege with a list answers whether ANY is held: each is asked for on its own.
  const { rows } = await q.query<{ ok: boolean }>(
    `SELECT bool_and(pg_catalog.has_table_privilege($1, $2, p)) AS ok FROM unnest(string_to_array($3, ', ')) AS p`,
    [STATEMENT_ROLE, `"public".${quoteIdent(table)}`, privileges],
  );
  if (rows[0]?.ok === true) return;
  try {
    await q.query(`GRANT ${privileges} ON "public".${quoteIdent(table)} TO ${STATEMENT_ROLE}`);
  } catch (e) {
    throw new InsituError(
      ErrorCode.PRIVILEGE,
      `the engine cannot let user statements reach table ${table} (made outside insitu): GRANT ${privileges} ON "${table}" TO ${STATEMENT_ROLE} as its owner`,
      { cause: e },
    );
  }
}

/** The table an index belongs to, if the index is in schema public (null otherwise). */
async function indexTable(q: PgQueryable, schema: string | null, name: string): Promise<string | null> {
  if (schema !== null && schema !== 'public') return null;
  const { rows } = await q.query<{ relname: string }>(
    `SELECT t.relname FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
       JOIN pg_catalog.pg_class t ON t.oid = x.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = i.relnamespace
      WHERE n.nspname = 'public' AND i.relname = $1 AND t.relkind IN ${USER_RELKINDS}`,
    [name],
  );
  return rows[0]?.relname ?? null;
}

/** `DROP TABLE|VIEW` of exactly the checked relations (IF EXISTS ones that were missing left out). */
function dropText(node: Node, names: readonly string[], _indexes: boolean): string {
  if (names.length === 0) return 'SELECT 1 WHERE false';
  const kind = node['removeType'] === 'OBJECT_VIEW' ? 'VIEW' : 'TABLE';
  return `DROP ${kind} ${names.map((n) => `"public".${quoteIdent(n)}`).join(', ')}`;
}

/** A change to the statement's text at a byte location: a table reference, or the names of a column reference. */
type Edit =
  | { readonly at: number; readonly kind: 'table'; readonly name: string; readonly alias: string | null }
  | { readonly at: number; readonly kind: 'columns'; readonly spelled: ReadonlyMap<string, string> };

/**
 * Columns of the statement's tables whose names PostgreSQL's folding to lower case would miss: lower
 * case name -> the one spelling the tables have (names with several spellings are left alone).
 */
async function columnSpellings(q: PgQueryable, tables: readonly string[]): Promise<ReadonlyMap<string, string>> {
  const { rows } = await q.query<{ attname: string }>(
    `SELECT DISTINCT a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [tables],
  );
  const byLower = new Map<string, Set<string>>();
  for (const r of rows) {
    const k = r.attname.toLowerCase();
    if (!byLower.has(k)) byLower.set(k, new Set());
    byLower.get(k)!.add(r.attname);
  }
  const out = new Map<string, string>();
  for (const [k, names] of byLower) {
    if (names.size === 1 && !names.has(k)) out.set(k, [...names][0]!);
  }
  return out;
}

/** The name of the table reference at byte `location` of `sql` as written (unquoted names keep their case), else `name`. */
function spelledAt(sql: string, location: number, name: string): string {
  const rest = Buffer.from(sql, 'utf8').subarray(location).toString('utf8');
  const last = chainParts(rest).at(-1);
  return last === undefined || last.quoted ? name : rest.slice(last.at, last.at + last.len);
}

/** `name` as `sql` spells it where it occurs unquoted as a whole word (case-insensitively), else `name`. */
function spelledIn(sql: string, name: string): string {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`(?<![A-Za-z0-9_$"])${escaped}(?![A-Za-z0-9_$"])`, 'i').exec(sql);
  return m === null ? name : m[0];
}

/** The parts of the `[schema.]name` chain starting at offset 0 of `sql`: offset, length, quoted. */
function chainParts(sql: string): { at: number; len: number; quoted: boolean }[] {
  const parts: { at: number; len: number; quoted: boolean }[] = [];
  let i = 0;
  for (;;) {
    const start = i;
    if (sql[i] === '"') {
      i++;
      while (i < sql.length && !(sql[i] === '"' && sql[i + 1] !== '"')) i += sql[i] === '"' ? 2 : 1;
      i++;
      parts.push({ at: start, len: i - start, quoted: true });
    } else {
      const m = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(sql.slice(i));
      if (m === null) break;
      i += m[0].length;
      parts.push({ at: start, len: m[0].length, quoted: false });
    }
    const dot = /^\s*\.\s*/.exec(sql.slice(i));
    if (dot === null) break;
    i += dot[0].length;
  }
  return parts;
}

/**
 * Apply the edits: each table reference becomes `"public"."Real"` (plus `AS "name"` when it had no
 * alias, so `name.column` still resolves); each unquoted column name that the tables spell with capitals
 * becomes that spelling, quoted (SQLite matches names case-insensitively; this keeps queries portable).
 */
function rewriteNames(sql: string, edits: readonly Edit[]): string {
  // Locations are byte offsets into the UTF-8 text.
  let out = Buffer.from(sql, 'utf8');
  const sorted = [...edits].sort((a, b) => b.at - a.at);
  for (const e of sorted) {
    const head = out.subarray(0, e.at).toString('utf8');
    const rest = out.subarray(e.at).toString('utf8');
    const parts = chainParts(rest);
    if (parts.length === 0) continue;
    let replaced: string;
    if (e.kind === 'table') {
      const last = parts.at(-1)!;
      const replacement = `"public".${quoteIdent(e.name)}${e.alias === null ? '' : ` AS ${quoteIdent(e.alias)}`}`;
      replaced = replacement + rest.slice(last.at + last.len);
    } else {
      replaced = rest;
      for (const p of [...parts].reverse()) {
        if (p.quoted) continue;
        const real = e.spelled.get(rest.slice(p.at, p.at + p.len).toLowerCase());
        if (real !== undefined) replaced = replaced.slice(0, p.at) + quoteIdent(real) + replaced.slice(p.at + p.len);
      }
    }
    out = Buffer.from(head + replaced, 'utf8');
  }
  return out.toString('utf8');
}

/** Options for {@link runGuarded}. */
export interface RunGuardedOptions {
  /** `query` and `read` run in a READ ONLY transaction. */
  readonly mode: PgStatementMode;
  /** statement_timeout for every statement of the transaction, in milliseconds. */
  readonly timeoutMs: number;
  /** The statement as the user wrote it, quoted in error messages. */
  readonly text?: string;
}

/** The NOLOGIN role user statements run as (created by migration `002-tables`): no privilege on engine tables. */
export const STATEMENT_ROLE = 'insitu_udf';

/**
 * Run `fn` in a transaction made for user statements: `READ ONLY` unless `mode` is `write`, with
 * `statement_timeout`, `search_path` = public only, and `SET LOCAL ROLE insitu_udf` (a role with no
 * privilege on engine tables, files or server functions), committed when `fn` resolves. A statement
 * cancelled by the timeout is TIMEOUT; the connection stays usable.
 */
export async function runGuarded<T>(client: PgQueryable, opts: RunGuardedOptions, fn: () => Promise<T>): Promise<T> {
  await client.query(opts.mode === 'write' ? 'BEGIN' : 'BEGIN READ ONLY');
  try {
    await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(opts.timeoutMs))}`);
    await client.query(`SET LOCAL search_path = public`);
    await client.query(`SET LOCAL ROLE ${STATEMENT_ROLE}`);
    const out = await fn();
    await client.query('COMMIT');
    return out;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw userSqlError(e, opts.text ?? '');
  }
}

/** A driver error from running user SQL as an InsituError (TIMEOUT for the statement timeout). */
export function userSqlError(e: unknown, text: string): InsituError {
  if (e instanceof InsituError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const state = typeof err.code === 'string' ? err.code : '';
  const msg = typeof err.message === 'string' ? err.message : String(e);
  const where = text === '' ? '' : ` (in: ${text.slice(0, 200)})`;
  if (state === '57014') return new InsituError(ErrorCode.TIMEOUT, `the statement ran longer than its time limit and was cancelled${where}`, { cause: e });
  if (state === '42501') return new InsituError(ErrorCode.PRIVILEGE, `${msg}${where}`, { cause: e });
  if (state === '25006') return new InsituError(ErrorCode.PRIVILEGE, `this call's database context is read-only: ${msg}${where}`, { cause: e });
  if (/^(22|23|42|2B|0A|21|44)/.test(state)) return badInput(`query is not valid SQL: ${msg}${where}`, { cause: e });
  return new InsituError(ErrorCode.STORAGE_ERROR, `PostgreSQL failed: ${msg}${where}`, { cause: e });
}

/** After a guarded write-mode statement ran: record the table it created (owned by `user`) and forget those it dropped. */
export async function recordSchemaChange(client: PgQueryable, stmt: GuardedStatement, user: string, access: PgTablePrivileges): Promise<void> {
  for (const name of stmt.drops) await access.dropped(client, name);
  if (stmt.renames !== null) await access.renamed(client, stmt.renames.from, stmt.renames.to);
  if (stmt.creates !== null) await access.created(client, stmt.creates, user);
}
