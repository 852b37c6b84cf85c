import { ErrorCode, InsituError, badInput } from '@insitu/core';
import { ALLOWED_FUNCTIONS, ALLOWED_TYPES } from './pg-function-allowlist.js';

/**
 * What a statement may do: `query` one SELECT that returns rows (query proxies, `conn.query`); `read`
 * one read-only statement (`conn.execute` in a read-only context); `write` also INSERT / UPDATE / DELETE
 * on tables the user may write and CREATE / DROP of tables, views and indexes (a write context).
 */
export type PgStatementMode = 'query' | 'read' | 'write';

/** A node of PostgreSQL's parse tree as libpg-query gives it. */
export type Node = Record<string, unknown>;

/** One table reference found in the tree. */
export interface TableRef {
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

/** Statements that change rows. */
export const DATA_CHANGES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/** A column reference in the statement's text: where it starts, how many name parts (`t.c` is 2). */
export interface ColumnRefAt {
  readonly at: number;
  readonly parts: number;
}

/** PRIVILEGE: `what` may not run here (quoting the statement). */
export function refused(what: string, text: string): InsituError {
  return new InsituError(ErrorCode.PRIVILEGE, `${what} is not allowed here: ${text.slice(0, 200)}`);
}

/**
 * Walks one statement's parse tree: collects table references (with CTE names scoped as PostgreSQL
 * scopes them: a CTE is visible in later CTEs of its WITH, all of them when RECURSIVE, and the body),
 * and refuses what no mode allows: functions off the allowlist, casts to types off the allowlist,
 * schema-qualified operators, locking clauses and SELECT INTO, data-changing CTEs outside `write`.
 */
export class TreeWalker {
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
          // CREATE TABLE ... (LIKE t): copies t's columns (and defaults, constraints): t must be readable.
          // Its RangeVar comes bare (no node wrapper) and takes no alias after the name.
          this.#rangeVar(v['relation'] as Node, new Set(), false, true);
          this.refs[this.refs.length - 1] = { ...this.refs.at(-1)!, noAlias: true };
          continue;
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
      if ((k === 'larg' || k === 'rarg') && v !== null && typeof v === 'object') {
        // The arms of UNION / INTERSECT / EXCEPT come bare (no node wrapper): they are SELECTs all the same,
        // and the leftmost one's INTO would make PostgreSQL run the whole as CREATE TABLE AS.
        this.walk({ SelectStmt: v }, scope);
        continue;
      }
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
