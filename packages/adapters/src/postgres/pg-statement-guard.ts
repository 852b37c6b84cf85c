import { ErrorCode, InsituError, badInput, tableNotFound, tableOwnerOnly, tableWriteRefused, type SqlParam } from '@insitu/core';
import { parse } from 'libpg-query';
import { lastNameOfItem } from './pg-alias-spelling.js';
import { ALLOWED_FUNCTIONS, ALLOWED_TYPES } from './pg-function-allowlist.js';
import { rebindPlaceholders } from './pg-placeholders.js';
import { USER_RELKINDS, type PgQueryable, type PgTablePrivileges } from './pg-table-privileges.js';

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
  /**
   * Names the statement creates that PostgreSQL folds to lower case but the user wrote with capitals
   * (`CREATE TABLE T1 (ID int)`), which {@link recordSchemaChange} renames to the spelling written, as
   * SQLite keeps it: the table's name as PostgreSQL creates it, and each column's [folded, written].
   */
  readonly respell?: { readonly table: string; readonly columns: readonly (readonly [string, string])[] };
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

/**
 * Driver values for `?` parameters: Uint8Array as Buffer (the statement types it bytea), bigint as text,
 * Date as ISO text in UTC as on SQLite (the driver would write local time with an offset, which a
 * `timestamp` column or a text result would keep); anything else unbindable is BAD_INPUT.
 */
export function pgBindable(params: readonly SqlParam[]): unknown[] {
  return params.map((p) => {
    if (p instanceof Date) return p.toISOString();
    if (p === null || typeof p === 'boolean' || typeof p === 'number' || typeof p === 'string') return p;
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
  /** Column references (`[table.]column`): location and number of name parts, for matching names case-insensitively. */
  readonly columnRefs: ColumnRefAt[] = [];
  /** Output names of the statement's SELECT lists (`AS name`, as PostgreSQL folds them) and where their items start. */
  readonly outputNames: { readonly at: number; readonly name: string }[] = [];
  /** Parameter references (`$n`): where each is and which parameter, for typing bytes ones as bytea. */
  readonly paramRefs: { readonly at: number; readonly n: number }[] = [];
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
          this.#columnRef(v);
          break;
        case 'ParamRef':
          if (typeof v['location'] === 'number' && typeof v['number'] === 'number') this.paramRefs.push({ at: v['location'], n: v['number'] });
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
          for (const t of (v['targetList'] as Node[] | undefined) ?? []) {
            const rt = t['ResTarget'] as Node | undefined;
            if (typeof rt?.['name'] === 'string' && typeof rt['location'] === 'number') this.outputNames.push({ at: rt['location'], name: rt['name'] });
          }
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

  /** A column reference, unless it names no column (`t.*`). */
  #columnRef(ref: Node): void {
    const fields = (ref['fields'] as Node[] | undefined) ?? [];
    const last = fields.at(-1);
    // `t.*` and `*` name no column.
    if (typeof ref['location'] !== 'number' || last === undefined || last['String'] === undefined) return;
    this.columnRefs.push({ at: ref['location'], parts: fields.length });
  }

  /** The columns an INSERT lists or an UPDATE sets: names of the target table, matched as column references are. */
  targetColumns(targets: unknown): void {
    for (const t of (targets as Node[] | undefined) ?? []) {
      const rt = t['ResTarget'] as Node | undefined;
      if (rt !== undefined && typeof rt['location'] === 'number' && rt['indirection'] === undefined) this.columnRefs.push({ at: rt['location'], parts: 1 });
    }
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

/** The table or view relations a view reads, recursively through views: [schema, name] of each. */
async function viewSources(q: PgQueryable, schema: string, name: string): Promise<{ schema: string; name: string }[]> {
  const { rows } = await q.query<{ nspname: string; relname: string }>(
    `WITH RECURSIVE reads(oid) AS (
        SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('v', 'm')
        UNION
        SELECT d.refobjid FROM reads
          JOIN pg_catalog.pg_rewrite r ON r.ev_class = reads.oid
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                      AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> reads.oid)
      SELECT n.nspname, c.relname FROM reads JOIN pg_catalog.pg_class c ON c.oid = reads.oid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`,
    [schema, name],
  );
  return rows.map((r) => ({ schema: r.nspname, name: r.relname }));
}

/**
 * Check one statement a user wrote (with `?` or `$n` placeholders) before anything runs, from
 * PostgreSQL's own parse tree (libpg-query):
 * - exactly one statement (BAD_INPUT otherwise); in `query` mode a SELECT (or VALUES) without locking
 *   clauses or INTO and without data-changing CTEs (BAD_INPUT); in `read` mode the same (PRIVILEGE for a
 *   write); in `write` mode also INSERT / UPDATE / DELETE and CREATE TABLE [AS] / CREATE VIEW / CREATE
 *   INDEX / DROP TABLE|VIEW|INDEX; every other statement (COPY, DO, SET, transaction control, GRANT, ...)
 *   is PRIVILEGE;
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
  const walker = new TreeWalker(text, who.mode);
  const drops: { schema: string | null; name: string }[] = [];
  let dropIndexes = false;
  let missingOk = false;
  const isSelect = type === 'SelectStmt';
  if (isSelect) walker.walk({ SelectStmt: node }, new Set());
  else if (who.mode === 'query') {
    throw badInput(`a query must be read-only (a SELECT): ${text.slice(0, 200)}`);
  } else if (DATA_CHANGES.has(type)) {
    if (type === 'MergeStmt') throw refused('MERGE', text);
    walker.walk({ [type]: node }, new Set());
    walker.targetColumns(type === 'InsertStmt' ? node['cols'] : type === 'UpdateStmt' ? node['targetList'] : undefined);
  } else if (who.mode !== 'write') {
    throw ['CreateStmt', 'CreateTableAsStmt', 'ViewStmt', 'IndexStmt', 'DropStmt'].includes(type)
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
    const level = await access.access(client, real, who.user);
    if (level === 'none') return null;
    if (write && level === 'read') throw tableWriteRefused(real, who.user);
    for (const src of await viewSources(client, 'public', real)) {
      if (src.schema === 'public' && src.name === real) continue;
      if (/^insitu_/i.test(src.name)) throw engineTable();
      if (src.schema !== 'public' || (await access.access(client, src.name, who.user)) === 'none') return null;
    }
    await letRoleReach(client, real, write);
    return real;
  };
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
    if (real === null) throw tableNotFound(ref.schema === null ? ref.name : `${ref.schema}.${ref.name}`);
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
      throw tableNotFound(d.name);
    }
    if ((await access.access(client, real, who.user)) !== 'owner') throw tableOwnerOnly(real, who.user, 'drop');
    dropped.push(real);
  }
  // Unquoted aliases keep the spelling written, as on SQLite.
  const outputs = walker.outputNames.map((o) => {
    const written = aliasAt(rebound, o.at, o.name);
    if (written === null) return o.name;
    edits.push({ at: written.at, kind: 'alias', name: written.name });
    return written.name;
  });
  if (walker.columnRefs.length > 0 && resolved.size > 0) {
    const names = { columns: await columnNames(client, [...resolved]), outputs };
    for (const ref of walker.columnRefs) edits.push({ ...ref, kind: 'column', names });
  }
  // Bytes are sent in binary; untyped, PostgreSQL would read them as text (and refuse a 0x00 byte).
  for (const ref of walker.paramRefs) {
    if (params[ref.n - 1] instanceof Uint8Array) edits.push({ at: ref.at, kind: 'bytea' });
  }
  const out = dropIndexes || drops.length === 0 ? rewriteNames(rebound, edits) : dropText(node, dropped, dropIndexes);
  const respell = creates === null ? null : createdSpelling(rebound, type, node);
  if (respell !== null) return { sql: out, params: bound, text, select: isSelect, creates: respell.written, drops: dropped, respell: { table: creates!, columns: respell.columns } };
  return { sql: out, params: bound, text, select: isSelect, creates, drops: dropped };
}

/**
 * The alias of the SELECT list item at byte `location` as written, when it is unquoted with capitals
 * (PostgreSQL folded it to `folded`): its byte location and the spelling; else null.
 */
function aliasAt(sql: string, location: number, folded: string): { at: number; name: string } | null {
  const start = Buffer.from(sql, 'utf8').subarray(0, location).toString('utf8').length;
  const token = lastNameOfItem(sql, start);
  if (token === null || token.quoted) return null;
  const name = sql.slice(token.at, token.at + token.len);
  if (name === folded || name.toLowerCase() !== folded) return null;
  return { at: Buffer.byteLength(sql.slice(0, token.at), 'utf8'), name };
}

/** Unquoted text at byte `location` of `sql` as written, or null when it is quoted (PostgreSQL keeps that spelling). */
function unquotedAt(sql: string, location: number, part: 'first' | 'last'): string | null {
  const rest = Buffer.from(sql, 'utf8').subarray(location).toString('utf8');
  const parts = chainParts(rest);
  const p = part === 'first' ? parts[0] : parts.at(-1);
  return p === undefined || p.quoted ? null : rest.slice(p.at, p.at + p.len);
}

/**
 * The spelling of what a CREATE TABLE / VIEW statement creates as written: the table's name and the
 * columns it defines whose unquoted names have capitals; null when PostgreSQL keeps them as written.
 */
function createdSpelling(sql: string, type: string, node: Node): { written: string; columns: [string, string][] } | null {
  const rv = (type === 'CreateStmt' ? node['relation'] : type === 'ViewStmt' ? node['view'] : (node['into'] as Node | undefined)?.['rel']) as Node | undefined;
  if (rv === undefined) return null;
  const folded = String(rv['relname']);
  const name = typeof rv['location'] === 'number' ? unquotedAt(sql, rv['location'], 'last') : null;
  const written = name !== null && name.toLowerCase() === folded ? name : folded;
  const columns: [string, string][] = [];
  if (type === 'CreateStmt') {
    for (const elt of (node['tableElts'] as Node[] | undefined) ?? []) {
      const def = elt['ColumnDef'] as Node | undefined;
      if (def === undefined || typeof def['location'] !== 'number') continue;
      const col = unquotedAt(sql, def['location'], 'first');
      if (col !== null && col !== def['colname'] && col.toLowerCase() === def['colname']) columns.push([String(def['colname']), col]);
    }
  }
  return written === folded && columns.length === 0 ? null : { written, columns };
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

/**
 * A change to the statement's text at a byte location: a table reference, the name of a column
 * reference, a parameter bound to bytes, or a SELECT list alias.
 */
type Edit =
  | { readonly at: number; readonly kind: 'table'; readonly name: string; readonly alias: string | null }
  | { readonly at: number; readonly kind: 'column'; readonly parts: number; readonly names: KnownNames }
  | { readonly at: number; readonly kind: 'bytea' }
  | { readonly at: number; readonly kind: 'alias'; readonly name: string };

/** A column reference in the statement's text: where it starts, how many name parts (`t.c` is 2). */
interface ColumnRefAt {
  readonly at: number;
  readonly parts: number;
}

/** The names a statement's column references may mean: its tables' columns, then its SELECT lists' output names. */
interface KnownNames {
  readonly columns: readonly string[];
  readonly outputs: readonly string[];
}

/** Every column name of the statement's tables (each spelling once). */
async function columnNames(q: PgQueryable, tables: readonly string[]): Promise<string[]> {
  const { rows } = await q.query<{ attname: string }>(
    `SELECT DISTINCT a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [tables],
  );
  return rows.map((r) => r.attname);
}

/**
 * The spelling a column name written in a statement means, as SQLite matches names: the name itself
 * when a table or a SELECT list has it exactly (an unquoted name folded to lower case, as PostgreSQL
 * reads it); otherwise the one name that differs only in case, first among the tables'
 * columns, then among output names; null when none does (PostgreSQL then reports the missing column).
 * Several names that differ only in case, none exactly: BAD_INPUT naming them.
 */
function spellingOf(written: string, quoted: boolean, known: KnownNames): string | null {
  const exact = quoted ? written : written.toLowerCase();
  if (known.columns.includes(exact) || known.outputs.includes(exact)) return null;
  for (const names of [known.columns, known.outputs]) {
    const like = [...new Set(names.filter((n) => n.toLowerCase() === exact.toLowerCase()))].sort();
    if (like.length > 1) {
      throw badInput(`column name ${written} is ambiguous: it matches ${like.map((n) => `"${n}"`).join(' and ')}, which differ only in case; write the one you mean in double quotes, exactly`);
    }
    if (like.length === 1) return like[0]!;
  }
  return null;
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
 * alias, so `name.column` still resolves); each column name, quoted or not, that names no column exactly
 * but one in another case becomes that spelling, quoted (SQLite matches names case-insensitively, quoted
 * ones too; this keeps queries and proxies' orderBy / select / partition keys portable);
 * each `$n` bound to bytes becomes `$n::bytea`.
 */
function rewriteNames(sql: string, edits: readonly Edit[]): string {
  // Locations are byte offsets into the UTF-8 text.
  let out = Buffer.from(sql, 'utf8');
  const sorted = [...edits].sort((a, b) => b.at - a.at);
  for (const e of sorted) {
    const head = out.subarray(0, e.at).toString('utf8');
    const rest = out.subarray(e.at).toString('utf8');
    if (e.kind === 'alias') {
      out = Buffer.from(`${head}${quoteIdent(e.name)}${rest.slice(e.name.length)}`, 'utf8');
      continue;
    }
    if (e.kind === 'bytea') {
      const param = /^\$\d+/.exec(rest);
      if (param !== null) out = Buffer.from(`${head}${param[0]}::bytea${rest.slice(param[0].length)}`, 'utf8');
      continue;
    }
    const parts = chainParts(rest);
    if (parts.length === 0) continue;
    let replaced: string;
    if (e.kind === 'table') {
      const last = parts.at(-1)!;
      const replacement = `"public".${quoteIdent(e.name)}${e.alias === null ? '' : ` AS ${quoteIdent(e.alias)}`}`;
      replaced = replacement + rest.slice(last.at + last.len);
    } else {
      replaced = rest;
      // Only the column's own name (the last part); `t.*` and names the text does not show whole are left alone.
      const p = parts.at(-1)!;
      if (parts.length === e.parts) {
        const raw = rest.slice(p.at, p.at + p.len);
        const real = spellingOf(p.quoted ? raw.slice(1, -1).replaceAll('""', '"') : raw, p.quoted, e.names);
        if (real !== null) replaced = rest.slice(0, p.at) + quoteIdent(real) + rest.slice(p.at + p.len);
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

/**
 * After a guarded write-mode statement ran: forget the tables it dropped, give the table it created the
 * spelling written (see {@link GuardedStatement.respell}) and record it, owned by `user`.
 */
export async function recordSchemaChange(client: PgQueryable, stmt: GuardedStatement, user: string, access: PgTablePrivileges): Promise<void> {
  for (const name of stmt.drops) await access.dropped(client, name);
  if (stmt.creates !== null && stmt.respell !== undefined) {
    // ALTER TABLE renames views too.
    if (stmt.respell.table !== stmt.creates) await client.query(`ALTER TABLE "public".${quoteIdent(stmt.respell.table)} RENAME TO ${quoteIdent(stmt.creates)}`);
    for (const [from, to] of stmt.respell.columns) {
      await client.query(`ALTER TABLE "public".${quoteIdent(stmt.creates)} RENAME COLUMN ${quoteIdent(from)} TO ${quoteIdent(to)}`);
    }
  }
  if (stmt.creates !== null) await access.created(client, stmt.creates, user);
}
