import { DataType, Table, type Vector } from 'apache-arrow';
import { ErrorCode, InsituError, badInput, type ApplyKind, type ApplyResult, type JsonValue, type PartitionResult, type ResultValue } from '@insitu/core';
import { groupKeyText, restResult } from '@insitu/server';

/**
 * OUT_FMT, as OML4Py's SQL API reads it: a JSON column spec (relational rows with those names and
 * SQLite storage classes), `'JSON'` (one TEXT value: the call's result as the REST API answers it, group
 * results keyed by group), or `'PNG'` (one row per image: NAME, ID, VALUE, TITLE, IMAGE).
 */

/** The storage class a spec column's values are converted to. NUMERIC: integer when integral, else real. */
export type SqlType = 'INTEGER' | 'REAL' | 'NUMERIC' | 'TEXT' | 'BLOB';

/** One column of a JSON column spec. */
export interface SpecColumn {
  readonly name: string;
  readonly type: SqlType;
}

/** A parsed OUT_FMT. */
export type OutFormat = { readonly kind: 'columns'; readonly columns: readonly SpecColumn[] } | { readonly kind: 'json' } | { readonly kind: 'png' };

/** A value SQLite takes from a virtual table. */
export type SqlCell = number | bigint | string | Buffer | null;

/** Columns an OUT_FMT spec may name: SQLite's default SQLITE_MAX_COLUMN (better-sqlite3 keeps it). */
const MAX_SPEC_COLUMNS = 2000;

/** The columns of the table functions used directly in a SELECT (and of 'PNG'). */
export const DIRECT_COLUMNS = ['NAME', 'ID', 'VALUE', 'TITLE', 'IMAGE'] as const;

const TYPE_WORDS: ReadonlyArray<readonly [RegExp, SqlType]> = [
  [/^(INTEGER|INT|BIGINT|SMALLINT|TINYINT|MEDIUMINT|INT2|INT8|BOOLEAN)$/, 'INTEGER'],
  [/^(REAL|FLOAT|DOUBLE|DOUBLE PRECISION|BINARY_DOUBLE|BINARY_FLOAT)$/, 'REAL'],
  [/^(NUMBER|NUMERIC|DECIMAL)$/, 'NUMERIC'],
  [/^(TEXT|VARCHAR|VARCHAR2|NVARCHAR|NVARCHAR2|CHAR|NCHAR|CLOB|NCLOB|STRING|DATE|DATETIME|TIMESTAMP)$/, 'TEXT'],
  [/^(BLOB|RAW|BINARY|VARBINARY)$/, 'BLOB'],
];

/** The storage class of a spec type such as `TEXT`, `varchar2(10)`, `number(8,2)`; null when unknown. */
function sqlTypeOf(text: string): SqlType | null {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(\(\s*\d+\s*(,\s*\d+\s*)?\))?\s*$/.exec(text);
  if (m === null) return null;
  const word = m[1]!.toUpperCase().replace(/\s+/g, ' ');
  for (const [re, t] of TYPE_WORDS) if (re.test(word)) return t;
  return null;
}

/**
 * Parse OUT_FMT: `'JSON'`, `'PNG'` (any case) or a JSON object `{"COL": "TYPE", ...}`. BAD_INPUT names what
 * is wrong (bad JSON, an unknown type naming its column, duplicate names).
 */
export function parseOutFormat(text: unknown): OutFormat {
  if (typeof text !== 'string' || text.trim() === '') {
    throw badInput(`OUT_FMT must be 'JSON', 'PNG' or a JSON column spec such as '{"SPECIES":"TEXT","PRED":"REAL"}', got ${text === null || text === undefined ? 'NULL' : JSON.stringify(text)}`);
  }
  const word = text.trim().toUpperCase();
  if (word === 'JSON') return { kind: 'json' };
  if (word === 'PNG') return { kind: 'png' };
  if (word === 'XML') throw badInput(`OUT_FMT 'XML' is not supported: use 'JSON', 'PNG' or a JSON column spec`);
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (e) {
    throw badInput(`OUT_FMT is neither 'JSON', 'PNG' nor a JSON column spec: ${(e as Error).message}`);
  }
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw badInput(`OUT_FMT column spec must be a JSON object of column names and types, such as '{"SPECIES":"TEXT","PRED":"REAL"}'`);
  const columns: SpecColumn[] = [];
  const seen = new Set<string>();
  for (const [name, type] of Object.entries(spec as Record<string, unknown>)) {
    if (name.trim() === '' || name.length > 128 || /[\u0000-\u001f]/.test(name)) throw badInput(`OUT_FMT column name ${JSON.stringify(name)} must be 1 to 128 characters without control characters`);
    if (seen.has(name.toLowerCase())) throw badInput(`OUT_FMT names column ${name} twice (names compare case-insensitively, as SQLite's do)`);
    seen.add(name.toLowerCase());
    const t = typeof type === 'string' ? sqlTypeOf(type) : null;
    if (t === null) {
      throw badInput(`OUT_FMT column ${name} has type ${JSON.stringify(type)}, which is not a SQL type: use INTEGER, REAL, NUMBER, TEXT (VARCHAR2(n), ...), DATE/TIMESTAMP (ISO text) or BLOB`);
    }
    columns.push({ name, type: t });
  }
  if (columns.length === 0) throw badInput('OUT_FMT column spec names no column');
  // SQLite refuses a table of more (a driver error when the virtual table is declared).
  if (columns.length > MAX_SPEC_COLUMNS) throw badInput(`OUT_FMT column spec names ${columns.length} columns; SQLite tables have at most ${MAX_SPEC_COLUMNS}`);
  return { kind: 'columns', columns };
}

/** A table's columns as arrays of JS values (typed arrays where there are no nulls; dates and timestamps as ISO text). */
function tableColumns(table: Table): { names: string[]; columns: ArrayLike<unknown>[]; length: number } {
  const names = table.schema.fields.map((f) => f.name);
  const columns = table.schema.fields.map((field, c): ArrayLike<unknown> => {
    const column = table.getChildAt(c) as Vector | null;
    if (column === null) return new Array<unknown>(table.numRows).fill(null);
    const t = field.type;
    const iso = DataType.isDate(t) ? 10 : DataType.isTimestamp(t) ? 24 : 0;
    if (iso === 0 && column.nullCount === 0 && (DataType.isFloat(t) || DataType.isInt(t))) return column.toArray() as ArrayLike<unknown>;
    const out = new Array<unknown>(table.numRows);
    let i = 0;
    for (const v of column) out[i++] = iso > 0 && v !== null && v !== undefined ? new Date(Number(v)).toISOString().slice(0, iso) : v;
    return out;
  });
  return { names, columns, length: table.numRows };
}

function notRows(what: string): InsituError {
  return new InsituError(
    ErrorCode.BAD_RESULT,
    `an OUT_FMT column spec needs the UDF to return rows (a frame, a dict of equal-length lists, a list of dicts or a list of tuples), but ${what}; use OUT_FMT 'JSON' for other values`,
  );
}

/** One partition's value as named (or positional: names null) columns; `key` columns (group keys) are added when missing. */
function columnsOfValue(v: ResultValue, key: Record<string, unknown> | null): { names: string[] | null; columns: ArrayLike<unknown>[]; length: number } {
  let out: { names: string[] | null; columns: ArrayLike<unknown>[]; length: number };
  const byRow = (names: string[] | null, rows: unknown[][], width: number) => ({
    names,
    columns: Array.from({ length: width }, (_, c) => rows.map((r) => r[c] ?? null)),
    length: rows.length,
  });
  if (v instanceof Table) out = tableColumns(v);
  else if (Array.isArray(v)) {
    if (v.length === 0) return { names: null, columns: [], length: 0 };
    if (v.every((r) => Array.isArray(r))) out = byRow(null, v as unknown[][], Math.max(...(v as unknown[][]).map((r) => r.length)));
    else if (v.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r))) {
      const names = [...new Set(v.flatMap((r) => Object.keys(r as object)))];
      out = byRow(names, v.map((r) => names.map((n) => (r as Record<string, unknown>)[n] ?? null)), names.length);
    } else throw notRows('it returned a list of scalars');
  } else if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const cols = Object.entries(v as Record<string, JsonValue>);
    if (!cols.every(([, c]) => Array.isArray(c))) throw notRows('it returned a dict whose values are not all lists');
    out = { names: cols.map(([k]) => k), columns: cols.map(([, c]) => c as JsonValue[]), length: cols.length === 0 ? 0 : (cols[0]![1] as JsonValue[]).length };
  } else throw notRows(`it returned ${v === null ? 'None' : v instanceof Uint8Array ? 'bytes' : typeof v}`);
  if (key !== null && out.names !== null) {
    const names = out.names;
    const missing = Object.keys(key).filter((k) => !names.some((n) => n.toLowerCase() === k.toLowerCase()));
    if (missing.length > 0) {
      out = { names: [...missing, ...names], columns: [...missing.map((k) => new Array<unknown>(out.length).fill(key[k])), ...out.columns], length: out.length };
    }
  }
  return out;
}

function mismatch(col: SpecColumn, v: unknown, row: number): InsituError {
  const shown = typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : v instanceof Uint8Array ? `${v.length} bytes` : String(v);
  return new InsituError(ErrorCode.BAD_RESULT, `OUT_FMT column ${col.name} is ${col.type} but result row ${row + 1} has ${shown} (${v instanceof Uint8Array ? 'bytes' : typeof v}) there`);
}

const INT_TEXT = /^\s*[+-]?\d+\s*$/;
const NUM_TEXT = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;

/** One value converted to a spec column's storage class (BAD_RESULT naming the column when it cannot be). */
function convert(col: SpecColumn, v: unknown, row: number): SqlCell {
  if (v === null || v === undefined) return null;
  switch (col.type) {
    case 'TEXT':
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
      throw mismatch(col, v, row);
    case 'BLOB':
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      if (typeof v === 'string') return Buffer.from(v, 'utf8');
      throw mismatch(col, v, row);
    // Integers are handed to SQLite as bigint: a JS number would be stored as REAL.
    case 'INTEGER': {
      if (typeof v === 'bigint') return v;
      if (typeof v === 'boolean') return v ? 1n : 0n;
      if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
      if (typeof v === 'string' && INT_TEXT.test(v)) return convert(col, BigInt(v.trim()), row);
      throw mismatch(col, v, row);
    }
    case 'REAL':
    case 'NUMERIC': {
      let n: number;
      if (typeof v === 'number') n = v;
      else if (typeof v === 'bigint') n = Number(v);
      else if (typeof v === 'boolean') n = v ? 1 : 0;
      else if (typeof v === 'string' && NUM_TEXT.test(v)) n = Number(v);
      else throw mismatch(col, v, row);
      if (!Number.isFinite(n)) return null;
      // NUMBER keeps integers integers, as SQLite's NUMERIC affinity does.
      if (col.type === 'NUMERIC' && (typeof v === 'bigint' || Number.isSafeInteger(n))) return typeof v === 'bigint' ? v : BigInt(n);
      return n;
    }
  }
}

/**
 * Cell `i` of a column under `col`, as {@link convert} gives it, with shortcuts for the typed arrays
 * of numeric columns without nulls (the common case, taken once per column rather than per cell).
 */
function cellsOf(col: SpecColumn, values: ArrayLike<unknown>): (i: number, row: number) => SqlCell {
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    if (col.type === 'INTEGER' || col.type === 'NUMERIC') return (i) => values[i]!;
  } else if (values instanceof Float64Array || values instanceof Float32Array) {
    if (col.type === 'REAL') return (i) => (Number.isFinite(values[i]!) ? values[i]! : null);
  } else if (values instanceof Int32Array || values instanceof Int16Array || values instanceof Int8Array || values instanceof Uint16Array || values instanceof Uint8Array) {
    if (col.type === 'INTEGER' || col.type === 'NUMERIC') return (i) => BigInt(values[i]!);
    if (col.type === 'REAL') return (i) => values[i]!;
  }
  return (i, row) => convert(col, values[i], row);
}

/** The value of each partition to turn into rows, with its group key (group apply) or null. */
function sourcesOf(kind: ApplyKind, r: ApplyResult): Array<{ value: ResultValue; key: Record<string, unknown> | null }> {
  if (r.value instanceof Table || kind === 'doEval' || kind === 'tableApply') return [{ value: r.value as ResultValue, key: null }];
  return r.partitions.map((p) => ({ value: p.value, key: kind === 'groupApply' ? (p.key as Record<string, unknown>) : null }));
}

/**
 * Rows under a JSON column spec, over one result or the results of a call's partitions one after the
 * other (row numbers in messages count on across them). Each yielded row is the same array, refilled:
 * copy it to keep it. The spec's columns are found by name in what the UDF returned (case-insensitive),
 * else by position when the counts agree; values are converted to the column's storage class.
 * BAD_RESULT names the column that is missing or does not convert.
 */
export class SpecRows {
  readonly #columns: readonly SpecColumn[];
  /** Rows given so far. */
  #n = 0;

  constructor(columns: readonly SpecColumn[]) {
    this.#columns = columns;
  }

  /** The rows of `r`, produced one at a time. */
  *of(kind: ApplyKind, r: ApplyResult): Generator<SqlCell[]> {
    const width = this.#columns.length;
    // One array for every row: better-sqlite3 copies a yielded row before it asks for the next.
    const row = new Array<SqlCell>(width);
    for (const { cells, length } of this.sources(kind, r)) {
      for (let i = 0; i < length; i++, this.#n++) {
        for (let c = 0; c < width; c++) row[c] = cells[c]!(i, this.#n);
        yield row;
      }
    }
  }

  /**
   * The parts of `r` as cell readers per spec column and their lengths, for a caller that loops over
   * the rows itself: a reader takes the row's index in its part and its number in the whole output
   * (from 0, for messages).
   */
  sources(kind: ApplyKind, r: ApplyResult): Array<{ readonly cells: ReadonlyArray<(i: number, row: number) => SqlCell>; readonly length: number }> {
    const columns = this.#columns;
    const out: Array<{ cells: Array<(i: number, row: number) => SqlCell>; length: number }> = [];
    for (const source of sourcesOf(kind, r)) {
      const { names, columns: data, length } = columnsOfValue(source.value, source.key);
      if (length === 0) continue;
      let index: number[];
      const lower = names?.map((x) => x.toLowerCase()) ?? null;
      if (lower !== null && columns.every((c) => lower.includes(c.name.toLowerCase()))) index = columns.map((c) => lower.indexOf(c.name.toLowerCase()));
      else if (data.length === columns.length) index = columns.map((_, i) => i);
      else {
        const missing = columns.find((c) => lower === null || !lower.includes(c.name.toLowerCase()))!;
        throw new InsituError(
          ErrorCode.BAD_RESULT,
          `OUT_FMT column ${missing.name} is not in the result, whose columns are ${names === null ? `${data.length} unnamed values` : names.join(', ')}; name the spec's columns as the UDF returns them, or give exactly as many columns in the same order`,
        );
      }
      const picked = index.map((i) => data[i]!);
      out.push({ cells: columns.map((col, c) => cellsOf(col, picked[c]!)), length });
    }
    return out;
  }
}

/** The rows of a result under a JSON column spec (see {@link SpecRows}). */
export function specRows(kind: ApplyKind, r: ApplyResult, columns: readonly SpecColumn[]): Generator<SqlCell[]> {
  return new SpecRows(columns).of(kind, r);
}

/** A partition's name in PNG rows: null for eval and table eval, the chunk, group key or index otherwise. */
function partitionName(kind: ApplyKind, p: PartitionResult): string | null {
  if (kind === 'doEval' || kind === 'tableApply') return null;
  if (kind === 'groupApply') return groupKeyText(p.key);
  if (kind === 'rowApply') return String((p.key as { chunk: number }).chunk);
  return String(p.key);
}

/** A value as JSON text (tables as lists of row objects). */
function jsonText(value: ResultValue): string {
  return JSON.stringify(restResult('do-eval', { value, stdout: '', stderr: '', images: [], partitions: [] }, false));
}

/** Rows of the direct functions (NAME, ID, VALUE, TITLE, IMAGE) for OUT_FMT 'JSON': one row, the value in VALUE. */
export function jsonRows(kind: ApplyKind, r: ApplyResult): SqlCell[][] {
  const rest = ({ doEval: 'do-eval', tableApply: 'table-apply', rowApply: 'row-apply', groupApply: 'group-apply', indexApply: 'index-apply' } as const)[kind];
  return [[null, null, JSON.stringify(restResult(rest, r, false)), null, null]];
}

/** Rows for OUT_FMT 'PNG': one per image (NAME, ID, VALUE, TITLE, IMAGE); a partition that drew none gives one row with ID, TITLE and IMAGE NULL. */
export function pngRows(kind: ApplyKind, r: ApplyResult): SqlCell[][] {
  const out: SqlCell[][] = [];
  for (const p of r.partitions) {
    const name = partitionName(kind, p);
    const value = jsonText(p.value);
    if (p.images.length === 0) out.push([name, null, value, null, null]);
    for (const img of p.images) out.push([name, BigInt(img.id), value, img.title, Buffer.from(img.png)]);
  }
  return out;
}

/** The rows of a result in a format. */
export function formatRows(kind: ApplyKind, r: ApplyResult, fmt: OutFormat): Iterable<SqlCell[]> {
  if (fmt.kind === 'columns') return specRows(kind, r, fmt.columns);
  return fmt.kind === 'json' ? jsonRows(kind, r) : pngRows(kind, r);
}

/** Column names of a format: the spec's, `VALUE` for 'JSON' in a virtual table, the PNG columns otherwise. */
export function columnsOf(fmt: OutFormat): string[] {
  return fmt.kind === 'columns' ? fmt.columns.map((c) => c.name) : [...DIRECT_COLUMNS];
}
