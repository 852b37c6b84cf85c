import { ErrorCode, InsituError, badInput, tableNotFound, tableOwnerOnly, tableWriteRefused, type SqlParam } from '@insitu/core';
import { parse } from 'libpg-query';
import { STATEMENT_ROLE } from './pg-guarded-run.js';
import { lastNameOfItem } from './pg-alias-spelling.js';
import { chainParts, columnNames, quoteIdent, rewriteNames, type Edit } from './pg-name-rewrite.js';
import { DATA_CHANGES, TreeWalker, refused, type Node, type PgStatementMode, type TableRef } from './pg-parse-tree-walker.js';
import { rebindPlaceholders } from './pg-placeholders.js';
import { USER_RELKINDS, type PgQueryable, type PgTablePrivileges } from './pg-table-privileges.js';
import { tablesReachedByWrite } from './pg-trigger-reach.js';

export { STATEMENT_ROLE, runGuarded, userSqlError } from './pg-guarded-run.js';
export type { RunGuardedOptions } from './pg-guarded-run.js';
export type { PgStatementMode } from './pg-parse-tree-walker.js';

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
  /** The table or view it renames (`ALTER TABLE|VIEW ... RENAME TO`), whose owner and grants follow the new name. */
  readonly renames: { readonly from: string; readonly to: string } | null;
}

/** The error for a statement that reaches an engine table (as on SQLite). */
function engineTable(): InsituError {
  return badInput('queries cannot read engine tables (insitu_*); use the scripts and datastores APIs instead');
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
    walker.targetColumns(type === 'InsertStmt' ? node['cols'] : type === 'UpdateStmt' ? node['targetList'] : undefined);
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
  // Unquoted aliases keep the spelling written, as on SQLite.
  const outputs = walker.outputNames.map((o) => {
    const written = aliasAt(rebound, o.at, o.name);
    if (written === null) return o.name;
    edits.push({ at: written.at, kind: 'alias', name: written.name });
    return written.name;
  });
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
    const names = { columns: await columnNames(client, [...resolved]), outputs };
    for (const ref of walker.columnRefs) edits.push({ ...ref, kind: 'column', names });
  }
  // Bytes are sent in binary; untyped, PostgreSQL would read them as text (and refuse a 0x00 byte).
  for (const ref of walker.paramRefs) {
    if (params[ref.n - 1] instanceof Uint8Array) edits.push({ at: ref.at, kind: 'bytea' });
  }
  const out =
    renames !== null
      ? `ALTER ${node['renameType'] === 'OBJECT_VIEW' ? 'VIEW' : 'TABLE'} "public".${quoteIdent(renames.from)} RENAME TO ${quoteIdent(renames.to)}`
      : dropIndexes || drops.length === 0
        ? rewriteNames(rebound, edits)
        : dropText(node, dropped);
  const respell = creates === null ? null : createdSpelling(rebound, type, node);
  if (respell !== null) {
    return { sql: out, params: bound, text, select: isSelect, creates: respell.written, drops: dropped, renames, respell: { table: creates!, columns: respell.columns } };
  }
  return { sql: out, params: bound, text, select: isSelect, creates, drops: dropped, renames };
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

/**
 * `DROP TABLE|VIEW` of exactly the checked relations (IF EXISTS ones that were missing left out), all
 * owned by the user. CASCADE, so that other users' views over them go too, as on SQLite (where such a
 * view stops working) and as when a user is dropped: otherwise anyone who may read a table could keep its
 * owner from ever dropping or replacing it by making a view over it. (The user's own `CASCADE` is refused:
 * it is implied, and only for objects the user owns.)
 */
function dropText(node: Node, names: readonly string[]): string {
  if (names.length === 0) return 'SELECT 1 WHERE false';
  const kind = node['removeType'] === 'OBJECT_VIEW' ? 'VIEW' : 'TABLE';
  return `DROP ${kind} ${names.map((n) => `"public".${quoteIdent(n)}`).join(', ')} CASCADE`;
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

/**
 * After a guarded write-mode statement ran: forget the tables it dropped, give the table it created the
 * spelling written (see {@link GuardedStatement.respell}) and record it, owned by `user`.
 */
export async function recordSchemaChange(client: PgQueryable, stmt: GuardedStatement, user: string, access: PgTablePrivileges): Promise<void> {
  for (const name of stmt.drops) await access.dropped(client, name);
  if (stmt.renames !== null) await access.renamed(client, stmt.renames.from, stmt.renames.to);
  if (stmt.creates !== null && stmt.respell !== undefined) {
    // ALTER TABLE renames views too.
    if (stmt.respell.table !== stmt.creates) await client.query(`ALTER TABLE "public".${quoteIdent(stmt.respell.table)} RENAME TO ${quoteIdent(stmt.creates)}`);
    for (const [from, to] of stmt.respell.columns) {
      await client.query(`ALTER TABLE "public".${quoteIdent(stmt.creates)} RENAME COLUMN ${quoteIdent(from)} TO ${quoteIdent(to)}`);
    }
  }
  if (stmt.creates !== null) await access.created(client, stmt.creates, user);
}
