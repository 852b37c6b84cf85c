import { ErrorCode, InsituError, tableNotFound, tableOwnerOnly } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';
import { BOOKKEEPING, spelledIn } from './sqlite-table-access.js';
import type { SqliteTablePrivileges } from './sqlite-table-privileges.js';

/** One row of sqlite_schema (or sqlite_temp_schema). */
interface SchemaRow {
  readonly db: 'main' | 'temp';
  readonly type: string;
  readonly name: string;
  readonly tbl_name: string;
  readonly sql: string | null;
}

/** Virtual table modules a UDF may create tables of (each keeps its data in tables of its own). */
const ALLOWED_MODULES = new Set(['fts5', 'fts4', 'fts3', 'rtree', 'rtree_i32']);

const keyOf = (r: SchemaRow) => `${r.db}\u0000${r.type}\u0000${r.name.toLowerCase()}`;

/**
 * Run one statement that changes the schema (CREATE, DROP, ALTER), made by `user` from a UDF, inside a
 * savepoint; compare the schema before and after, and keep the change only if the user may make it:
 * - a new table or view (and the shadow tables of a new virtual table) is owned by its creator;
 * - dropping or altering a table, or adding or dropping an index on it, needs its owner (a table the
 *   user cannot see is TABLE_NOT_FOUND, one they can see PRIVILEGE); a dropped table's owner row and
 *   grants go with it;
 * - CREATE TRIGGER is refused: a trigger runs its statements whenever anyone writes its table, so a
 *   user's trigger would act with the privileges of whoever writes there;
 * - a new or altered table may reference (FOREIGN KEY) only tables the user owns;
 * - virtual tables only of fts5, fts4, fts3, rtree, and an fts table only without an external content
 *   table (`content=` other than `''`): its module would read that table outside any check;
 * - objects of the connection's own temporary database are the user's own (triggers still refused).
 * Anything refused is rolled back with the statement. Returns what `run` returned.
 */
export function runSchemaChange<T>(db: BetterSqlite3.Database, privileges: SqliteTablePrivileges, user: string, sql: string, run: () => T): T {
  const before = schemaRows(db);
  db.exec('SAVEPOINT insitu_schema_change');
  let out: T | undefined;
  try {
    out = run();
    approve(db, privileges, user, before, schemaRows(db), sql);
    db.exec('RELEASE insitu_schema_change');
    return out;
  } catch (e) {
    db.exec('ROLLBACK TO insitu_schema_change');
    db.exec('RELEASE insitu_schema_change');
    // DROP ... IF EXISTS of a table the user cannot see does nothing, as for a missing one.
    if (out !== undefined && e instanceof InsituError && e.code === ErrorCode.TABLE_NOT_FOUND && dropsIfExists(sql)) return out;
    throw e;
  }
}

/** Whether the statement is `DROP TABLE|VIEW|INDEX|TRIGGER IF EXISTS ...`. */
export function dropsIfExists(sql: string): boolean {
  return /^\s*DROP\s+\w+\s+IF\s+EXISTS\b/i.test(stripComments(sql));
}

function stripComments(sql: string): string {
  return sql.replace(/\/\*[\s\S]*?\*\/|--[^\n]*/g, ' ');
}

function schemaRows(db: BetterSqlite3.Database): SchemaRow[] {
  return db
    .prepare(
      `SELECT 'main' AS db, type, name, tbl_name, sql FROM main.sqlite_schema
       UNION ALL SELECT 'temp', type, name, tbl_name, sql FROM temp.sqlite_schema`,
    )
    .all() as SchemaRow[];
}

function approve(db: BetterSqlite3.Database, privileges: SqliteTablePrivileges, user: string, before: readonly SchemaRow[], after: readonly SchemaRow[], sql: string): void {
  const old = new Map(before.map((r) => [keyOf(r), r]));
  const now = new Map(after.map((r) => [keyOf(r), r]));
  const added = after.filter((r) => !old.has(keyOf(r)));
  const removed = before.filter((r) => !now.has(keyOf(r)));
  const changed = after.filter((r) => old.has(keyOf(r)) && (old.get(keyOf(r))!.sql !== r.sql || old.get(keyOf(r))!.tbl_name !== r.tbl_name));
  if ([...added, ...changed].some((r) => r.type === 'trigger')) {
    throw new InsituError(
      ErrorCode.PRIVILEGE,
      'CREATE TRIGGER is not allowed from a UDF: a trigger runs whenever anyone writes its table, with their privileges; ask an administrator to create it',
    );
  }
  // A view over SQLite's bookkeeping tables would read them without naming them in the statement.
  if ([...added, ...changed].some((r) => r.sql !== null && r.type === 'view' && BOOKKEEPING.test(r.sql))) {
    throw new InsituError(ErrorCode.PRIVILEGE, "a view cannot read sqlite_sequence or sqlite_stat*: they hold every user's counters and row counts");
  }
  const ownerOf = (name: string, action: string) => {
    const level = privileges.access(name, user);
    // Named as the statement spells it, as SQLite names a missing table.
    if (level === 'none') throw tableNotFound(spelledIn(sql, name) ?? name);
    if (level !== 'owner') throw tableOwnerOnly(name, user, action);
  };
  const main = (rows: readonly SchemaRow[]) => rows.filter((r) => r.db === 'main');
  const removedTables = new Set(main(removed).filter((r) => r.type === 'table' || r.type === 'view').map((r) => r.name.toLowerCase()));
  const droppedVirtual = main(removed).filter((r) => isVirtual(r)).map((r) => r.name.toLowerCase());
  // Shadow tables go with their virtual table: only the virtual table's owner is asked.
  const shadowOfDropped = (name: string) => droppedVirtual.some((v) => name.toLowerCase().startsWith(`${v}_`));
  for (const r of main(removed)) {
    if (r.type === 'table' || r.type === 'view') {
      if (!shadowOfDropped(r.name)) ownerOf(r.name, 'drop');
    } else if (!removedTables.has(r.tbl_name.toLowerCase())) {
      ownerOf(r.tbl_name, `drop ${r.type} ${r.name} of`);
    }
  }
  // A table still referencing a dropped one by FOREIGN KEY would reference whoever makes a table of
  // that name next: another user's new table would then fail its owner's deletes and updates (and
  // answer for this one's inserts). Drop (or alter) the referencing tables first.
  const droppedNames = new Set(main(removed).filter((r) => r.type === 'table' || r.type === 'view').map((r) => r.name.toLowerCase()));
  if (droppedNames.size > 0) {
    for (const t of main(after)) {
      if (t.type !== 'table' || isVirtual(t)) continue;
      const refs = db.prepare(`SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`).pluck().all(t.name) as string[];
      const dangling = refs.find((ref) => droppedNames.has(ref.toLowerCase()));
      if (dangling !== undefined) {
        throw new InsituError(
          ErrorCode.PRIVILEGE,
          `cannot drop ${dangling}: table ${t.name} references it (FOREIGN KEY), and would reference the next table of that name, whoever made it; drop or change ${t.name} first`,
        );
      }
    }
  }
  const addedTables = main(added).filter((r) => r.type === 'table' || r.type === 'view');
  for (const r of addedTables) if (isVirtual(r)) checkModule(r);
  const isNew = new Set(addedTables.map((r) => r.name.toLowerCase()));
  for (const r of main(changed)) if (!isNew.has(r.tbl_name.toLowerCase())) ownerOf(r.tbl_name, 'alter');
  for (const r of main(added)) {
    if (r.type === 'index' && !isNew.has(r.tbl_name.toLowerCase())) ownerOf(r.tbl_name, `create index ${r.name} on`);
  }
  for (const r of main(removed)) if (r.type === 'table' || r.type === 'view') privileges.dropped(r.name);
  for (const r of addedTables) privileges.created(r.name, user);
  // A foreign key acts on the table it references: a cascade or a restriction there would make its
  // owner's writes depend on (and fail on) this table. Only the user's own tables may be referenced.
  for (const r of main([...added, ...changed])) {
    if (r.type !== 'table' || isVirtual(r)) continue;
    const refs = db.prepare(`SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`).pluck().all(r.name) as string[];
    for (const ref of refs) ownerOf(ref, `reference (FOREIGN KEY from ${r.name})`);
  }
}

function isVirtual(r: SchemaRow): boolean {
  return r.type === 'table' && r.sql !== null && /^\s*CREATE\s+VIRTUAL\s+TABLE/i.test(r.sql);
}

/** Refuse virtual tables of modules outside {@link ALLOWED_MODULES}, and fts tables over another table. */
function checkModule(r: SchemaRow): void {
  const m = /\bUSING\s+"?([A-Za-z0-9_]+)"?\s*(?:\(([\s\S]*)\))?\s*$/i.exec(r.sql ?? '');
  const module = m?.[1]?.toLowerCase() ?? '';
  if (!ALLOWED_MODULES.has(module)) {
    throw new InsituError(ErrorCode.PRIVILEGE, `virtual tables of module ${module || '?'} cannot be created from a UDF (allowed: ${[...ALLOWED_MODULES].join(', ')})`);
  }
  const args = m?.[2] ?? '';
  if (module.startsWith('fts') && /\bcontent\s*=\s*(?!''|""|\s*(?:,|$))/i.test(args)) {
    throw new InsituError(
      ErrorCode.PRIVILEGE,
      `an ${module} table with an external content table (content=...) cannot be created from a UDF: its module reads that table outside any privilege check; use content='' or keep the text in the fts table`,
    );
  }
}
