import { ErrorCode, InsituError } from '@insitu/core';
import { USER_RELKINDS, type PgQueryable } from './pg-table-privileges.js';

/** Languages whose trigger functions are read for the tables they name; `internal` ones touch only the row. */
const READ_LANGUAGES = new Set(['plpgsql', 'sql']);

/**
 * The tables and views of schema `public` that a write to table `table` may also reach through what an
 * administrator attached to it (UDFs can make neither): the relations its rules' actions depend on, and
 * those a trigger function's source names as a word (any case, quoted or not). A trigger function that
 * runs dynamic SQL (`EXECUTE`), in a language other than PL/pgSQL, SQL or `internal`, or that names an
 * engine table (`insitu_*`) cannot be checked and is PRIVILEGE. The caller decides the writer's access to
 * each (the writer must be able to write them, as on SQLite, where trigger bodies are compiled with the
 * statement). Naming a table in a trigger counts as reaching it: an over-approximation, never an under-.
 */
export async function tablesReachedByWrite(q: PgQueryable, table: string): Promise<string[]> {
  const reached = new Set<string>();
  const { rows: rules } = await q.query<{ nspname: string; relname: string }>(
    `SELECT DISTINCT rn.nspname, rc.relname FROM pg_catalog.pg_rewrite r
       JOIN pg_catalog.pg_class c ON c.oid = r.ev_class JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                   AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class
       JOIN pg_catalog.pg_class rc ON rc.oid = d.refobjid JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
      WHERE n.nspname = 'public' AND c.relname = $1 AND r.rulename <> '_RETURN'`,
    [table],
  );
  for (const r of rules) {
    if (r.nspname !== 'public' || /^insitu_/i.test(r.relname)) throw unchecked(table, `a rule on it reaches ${r.nspname}.${r.relname}`);
    reached.add(r.relname);
  }
  const { rows: triggers } = await q.query<{ tgname: string; lanname: string; prosrc: string }>(
    `SELECT t.tgname, l.lanname, p.prosrc FROM pg_catalog.pg_trigger t
       JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid JOIN pg_catalog.pg_language l ON l.oid = p.prolang
      WHERE n.nspname = 'public' AND c.relname = $1 AND NOT t.tgisinternal`,
    [table],
  );
  if (triggers.length === 0) return [...reached];
  const { rows: relations } = await q.query<{ relname: string }>(
    `SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ${USER_RELKINDS}`,
  );
  for (const t of triggers) {
    if (t.lanname === 'internal') continue;
    if (!READ_LANGUAGES.has(t.lanname)) throw unchecked(table, `its trigger ${t.tgname} is written in ${t.lanname}`);
    const src = t.prosrc.toLowerCase();
    if (/(^|[^a-z0-9_$])execute([^a-z0-9_$]|$)/.test(src)) throw unchecked(table, `its trigger ${t.tgname} runs dynamic SQL`);
    if (/insitu_/.test(src)) throw unchecked(table, `its trigger ${t.tgname} names an engine table`);
    for (const { relname } of relations) if (namesWord(src, relname.toLowerCase())) reached.add(relname);
  }
  return [...reached];
}

/** Whether `word` occurs in `src` as a whole identifier (not inside a longer one). */
function namesWord(src: string, word: string): boolean {
  let at = src.indexOf(word);
  while (at >= 0) {
    const before = at === 0 ? '' : src[at - 1]!;
    const after = src[at + word.length] ?? '';
    if (!/[a-z0-9_$]/.test(before) && !/[a-z0-9_$]/.test(after)) return true;
    at = src.indexOf(word, at + 1);
  }
  return false;
}

function unchecked(table: string, why: string): InsituError {
  return new InsituError(
    ErrorCode.PRIVILEGE,
    `writes to table ${table} are refused: ${why}, so the tables the write would reach cannot be checked against your privileges; an administrator can change or drop it`,
  );
}
