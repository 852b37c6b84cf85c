import { ErrorCode, InsituError, badInput, decodeResult, type ApplyKind, type SqlConnection } from '@insitu/core';
import { CATALOG } from './catalog.js';
import { parseModuleArg } from './module-args.js';
import { DIRECT_COLUMNS, SpecRows, columnsOf, formatRows, parseOutFormat, type OutFormat, type SqlCell } from './out-format.js';
import type { SqlHost } from './sql-host.js';
import type { CatalogName, SqlAnswer, SqlApplyRequest } from './sql-protocol.js';

/**
 * The `insitu_*` SQL functions on one connection, bound to one user. SQLite fixes a table-valued
 * function's columns when the connection first sees it (xConnect), before any argument is known, so:
 * - `insitu_eval`, `insitu_table_eval`, `insitu_row_eval`, `insitu_group_eval`, `insitu_index_eval` are
 *   table-valued functions usable anywhere in a SELECT, with the fixed columns NAME, ID, VALUE, TITLE,
 *   IMAGE: OUT_FMT 'JSON' (VALUE holds the JSON), 'PNG' (a row per image), or `oml_async_flag` (VALUE
 *   holds the job id). A JSON column spec there is BAD_INPUT saying what to do instead:
 * - the same functions with `_vt` are virtual-table modules, whose columns are decided per table from
 *   its arguments: `CREATE VIRTUAL TABLE temp.t USING insitu_row_eval_vt(...)` gives a table with the
 *   spec's columns; every SELECT of it runs the call.
 */

/** Argument names of each apply function, in SQL order (OML4Py's, lower case), and its apply kind. */
const APPLY_FUNCTIONS: ReadonlyArray<{ readonly fn: string; readonly kind: ApplyKind; readonly args: readonly string[] }> = [
  { fn: 'insitu_eval', kind: 'doEval', args: ['par_lst', 'out_fmt', 'scr_name', 'scr_owner'] },
  { fn: 'insitu_table_eval', kind: 'tableApply', args: ['inp_nam', 'par_lst', 'out_fmt', 'scr_name', 'scr_owner'] },
  { fn: 'insitu_row_eval', kind: 'rowApply', args: ['inp_nam', 'par_lst', 'out_fmt', 'row_num', 'scr_name', 'scr_owner'] },
  { fn: 'insitu_group_eval', kind: 'groupApply', args: ['inp_nam', 'par_lst', 'out_fmt', 'grp_col', 'ord_col', 'scr_name', 'scr_owner'] },
  { fn: 'insitu_index_eval', kind: 'indexApply', args: ['par_lst', 'out_fmt', 'times_num', 'scr_name', 'scr_owner'] },
];

/** Where the functions send their calls, as whom, and how long a call may take. */
export interface SqlBinding {
  readonly host: SqlHost;
  readonly user: string;
  readonly timeoutMs: number;
}

/** PAR_LST as an object, or null when it is not one (the call itself refuses it with BAD_INPUT). */
function controlsOf(parList: unknown): Record<string, unknown> | null {
  if (typeof parList !== 'string') return null;
  try {
    const v = JSON.parse(parList) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Whether PAR_LST asks for a job. */
function asksAsync(parList: unknown): boolean {
  const c = controlsOf(parList);
  return c !== null && (c['oml_async_flag'] === true || c['oml_async_flag'] === 1);
}

/** How long to wait for a call: PAR_LST's `timeout` (seconds) when it gives a valid one within the binding's, else the binding's. */
function waitOf(b: SqlBinding, parList: unknown): number {
  const t = controlsOf(parList)?.['timeout'];
  return typeof t === 'number' && Number.isInteger(t) && t >= 1 && t * 1000 <= b.timeoutMs ? t * 1000 : b.timeoutMs;
}

/**
 * An error as SQLite reports it: better-sqlite3 rethrows it from the statement, and its message carries
 * the insitu code and, for Python errors, the traceback (SQL clients often show only the message).
 */
function sqlError(e: unknown, fn: string): InsituError {
  const err = e instanceof InsituError ? e : new InsituError(ErrorCode.RUNTIME_ERROR, `${fn}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  const tb = err.traceback !== undefined && !err.message.includes(err.traceback) ? `\n${err.traceback}` : '';
  return new InsituError(err.code, `${fn}: ${err.code}: ${err.message}${tb}`, { ...err.toJSON(), cause: err });
}

/** The rows `make` gives, with every error on the way (the call's, a conversion's) as {@link sqlError}. */
function* guarded(fn: string, make: () => Iterable<SqlCell[]>): Generator<SqlCell[]> {
  try {
    yield* make();
  } catch (e) {
    throw sqlError(e, fn);
  }
}

function requestOf(b: SqlBinding, kind: ApplyKind, names: readonly string[], values: readonly unknown[]): SqlApplyRequest {
  const a = Object.fromEntries(names.map((n, i) => [n, values[i] ?? null])) as Record<string, unknown>;
  return {
    op: 'apply',
    user: b.user,
    kind,
    input: a['inp_nam'],
    parList: a['par_lst'],
    rows: a['row_num'],
    groupCols: a['grp_col'],
    orderCols: a['ord_col'],
    times: a['times_num'],
    script: a['scr_name'],
    owner: a['scr_owner'],
    timeoutMs: b.timeoutMs,
  };
}

/** Whether a call's rows stream (see {@link streamedRows}). */
function streams(req: SqlApplyRequest, fmt: OutFormat | null): fmt is OutFormat & { kind: 'columns' } {
  return fmt?.kind === 'columns' && (req.kind === 'rowApply' || req.kind === 'indexApply') && !asksAsync(req.parList);
}

/**
 * The rows of a call whose partitions stream (a column spec over rowApply or indexApply), each
 * partition's rows as soon as it and the ones before it finished; errors as {@link sqlError}. One
 * generator from partitions to rows (SQLite resumes it per row: each delegation level would cost).
 */
function* streamedRows(fn: string, b: SqlBinding, req: SqlApplyRequest, fmt: OutFormat & { kind: 'columns' }): Generator<SqlCell[]> {
  try {
    const spec = new SpecRows(fmt.columns);
    const width = fmt.columns.length;
    // One array for every row: better-sqlite3 copies a yielded row before it asks for the next.
    const row = new Array<SqlCell>(width);
    let n = 0;
    for (const answer of b.host.stream({ ...req, stream: true }, waitOf(b, req.parList))) {
      if (answer.type !== 'part') throw new InsituError(ErrorCode.RUNTIME_ERROR, 'the SQL host answered something unexpected');
      for (const { cells, length } of spec.sources(answer.kind, decodeResult(answer.bytes))) {
        for (let i = 0; i < length; i++, n++) {
          for (let c = 0; c < width; c++) row[c] = cells[c]!(i, n);
          yield row;
        }
      }
    }
  } catch (e) {
    throw sqlError(e, fn);
  }
}

/** Run one call and give its rows in `fmt` (a job's id row with oml_async_flag). */
function callRows(b: SqlBinding, req: SqlApplyRequest, fmt: OutFormat | null): Iterable<SqlCell[]> {
  const answer: SqlAnswer = b.host.request(req, waitOf(b, req.parList));
  if (answer.type === 'job') return [['job', null, answer.jobId, null, null]];
  if (answer.type !== 'result' || fmt === null) throw new InsituError(ErrorCode.RUNTIME_ERROR, 'the SQL host answered something unexpected');
  return formatRows(answer.kind, decodeResult(answer.bytes), fmt);
}

function directFormat(fn: string, outFmt: unknown): OutFormat {
  const fmt = parseOutFormat(outFmt);
  if (fmt.kind === 'columns') {
    throw badInput(
      `${fn}() used directly has the fixed columns ${DIRECT_COLUMNS.join(', ')}, because SQLite fixes a table function's columns before it sees its arguments; for the columns of an OUT_FMT spec, create a table of the call: CREATE VIRTUAL TABLE temp.t USING ${fn}_vt(<the same arguments as literals>), then SELECT from t`,
    );
  }
  return fmt;
}

/** Define every `insitu_*` function on `db` for `binding`'s user. */
export function registerSqlFunctions(db: SqlConnection, binding: SqlBinding): void {
  for (const { fn, kind, args } of APPLY_FUNCTIONS) {
    db.table(fn, {
      columns: [...DIRECT_COLUMNS],
      parameters: [...args],
      directOnly: true,
      *rows(...values: unknown[]) {
        yield* guarded(fn, () => {
          const req = requestOf(binding, kind, args, values);
          return callRows(binding, req, asksAsync(req.parList) ? null : directFormat(fn, values[args.indexOf('out_fmt')]));
        });
      },
    });
    db.table(`${fn}_vt`, function (this: { database: string }, ...raw: string[]) {
      let columns: string[];
      let req: SqlApplyRequest;
      let fmt: OutFormat | null;
      try {
        if (this.database !== 'temp') throw badInput(`${fn}_vt tables live in the connection's temp schema: CREATE VIRTUAL TABLE temp.<name> USING ${fn}_vt(...)`);
        if (raw.length < args.length - 1 || raw.length > args.length) throw badInput(`${fn}_vt takes ${args.length - 1} or ${args.length} arguments (${args.join(', ')}), got ${raw.length}`);
        const values = raw.map((r, i) => parseModuleArg(r, i + 1));
        req = requestOf(binding, kind, args, values);
        fmt = asksAsync(req.parList) ? null : parseOutFormat(values[args.indexOf('out_fmt')]);
        columns = fmt === null ? [...DIRECT_COLUMNS] : columnsOf(fmt);
      } catch (e) {
        throw sqlError(e, `${fn}_vt`);
      }
      return {
        columns,
        directOnly: true,
        *rows() {
          if (streams(req, fmt)) yield* streamedRows(`${fn}_vt`, binding, req, fmt);
          else yield* guarded(`${fn}_vt`, () => callRows(binding, req, fmt));
        },
      };
    });
  }
  // Results of jobs: the direct function (JSON, PNG) and the module (a column spec).
  const jobResult = (jobId: unknown, outFmt: unknown, direct: boolean): Iterable<SqlCell[]> => {
    const fmt = direct ? directFormat('insitu_job_result', outFmt) : parseOutFormat(outFmt);
    const answer = binding.host.request({ op: 'jobResult', user: binding.user, jobId }, binding.timeoutMs);
    if (answer.type !== 'result') throw new InsituError(ErrorCode.RUNTIME_ERROR, 'the SQL host answered something unexpected');
    return formatRows(answer.kind, decodeResult(answer.bytes), fmt);
  };
  db.table('insitu_job_result', {
    columns: [...DIRECT_COLUMNS],
    parameters: ['job_id', 'out_fmt'],
    directOnly: true,
    *rows(jobId: unknown, outFmt: unknown) {
      yield* guarded('insitu_job_result', () => jobResult(jobId, outFmt, true));
    },
  });
  db.table('insitu_job_result_vt', function (this: { database: string }, ...raw: string[]) {
    let columns: string[];
    let values: Array<string | number | null>;
    try {
      if (this.database !== 'temp') throw badInput('insitu_job_result_vt tables live in the connection\'s temp schema: CREATE VIRTUAL TABLE temp.<name> USING insitu_job_result_vt(...)');
      if (raw.length !== 2) throw badInput(`insitu_job_result_vt takes 2 arguments (job_id, out_fmt), got ${raw.length}`);
      values = raw.map((r, i) => parseModuleArg(r, i + 1));
      columns = columnsOf(parseOutFormat(values[1]));
    } catch (e) {
      throw sqlError(e, 'insitu_job_result_vt');
    }
    return {
      columns,
      directOnly: true,
      *rows() {
        yield* guarded('insitu_job_result_vt', () => jobResult(values[0], values[1], false));
      },
    };
  });
  // The catalog: read-only views of what the user may see.
  for (const [name, def] of Object.entries(CATALOG) as Array<[CatalogName, (typeof CATALOG)[CatalogName]]>) {
    db.table(def.fn, {
      columns: [...def.columns],
      parameters: [...def.parameters],
      directOnly: true,
      *rows(...args: unknown[]) {
        let answer: SqlAnswer;
        try {
          answer = binding.host.request({ op: 'catalog', user: binding.user, name, args }, binding.timeoutMs);
        } catch (e) {
          throw sqlError(e, def.fn);
        }
        if (answer.type !== 'rows') throw sqlError(new InsituError(ErrorCode.RUNTIME_ERROR, 'the SQL host answered something unexpected'), def.fn);
        for (const r of answer.rows) yield def.columns.map((c) => r[c] ?? null);
      },
    });
  }
}
