import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Table } from 'apache-arrow';
import { InsituError, type ApplyResult, type Engine, type JsonValue, type RowObject, type Session } from '@insitu/core';
import { helperEngine } from './shared-pool.js';

/** Keyword arguments of a UDF call. */
export type UdfArgs = Readonly<Record<string, JsonValue>>;

/** Input rows of a helper call: row objects or an Arrow table. */
export type UdfData = readonly RowObject[] | Table;

/** Options of {@link loadUdf}. */
export interface LoadUdfOptions {
  /** The function to call: default the one named like the file (or script), or the file's only function. */
  readonly function?: string;
  /** With a stored script name instead of a file: the engine that stores it. */
  readonly engine?: Engine;
  /** With `engine`: the user who sees the script (default `'insitu'`). */
  readonly user?: string;
  /** With `engine`: the script's owner, for a script granted to `user`. */
  readonly owner?: string;
}

/** A UDF loaded for tests: each call runs it as the engine's apply calls do and returns their result. */
export interface LoadedUdf {
  /** The file the UDF came from (or `<script NAME>` for a stored script). */
  readonly file: string;
  /** `f(all rows, **args)` once: tableApply. */
  table(data: UdfData, args?: UdfArgs): Promise<ApplyResult>;
  /** `f(chunk, **args)` per chunk of `rows` rows: rowApply. */
  rows(data: UdfData, opts?: { readonly rows?: number; readonly args?: UdfArgs }): Promise<ApplyResult>;
  /** `f(group, **args)` per distinct value of the `by` columns, ascending: groupApply. */
  groups(data: UdfData, by: string | readonly string[], args?: UdfArgs): Promise<ApplyResult>;
  /** `f(**args)` once: doEval. */
  eval(args?: UdfArgs): Promise<ApplyResult>;
  /** `f(i, **args)` for i = 1..times: indexApply. */
  index(times: number, args?: UdfArgs): Promise<ApplyResult>;
}

/** The name `<script NAME>` stands for in tracebacks, from the file name or the function. */
function scriptName(file: string, func: string | undefined): string {
  if (func !== undefined) return func;
  const stem = basename(file).replace(/\.py$/, '');
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(stem) ? stem : 'udf';
}

/**
 * Load a UDF for tests: from a `.py` file, or a stored script of `opts.engine`. Its calls run on one
 * pool of workers shared by every helper of the test process (started when `insitu/testing` is
 * imported, closed when the process exits), each helper with an in-memory database of its own;
 * results have the engine's shape (`value`, `stdout` per call and per partition). A Python error
 * rejects with the InsituError the engine gives, its traceback naming the file and its lines.
 *
 * ```ts
 * const score = await loadUdf('scripts/score.py');
 * const r = await score.table([{ x: 1 }, { x: 2 }], { k: 3 });
 * ```
 */
export async function loadUdf(script: string | URL, opts: LoadUdfOptions = {}): Promise<LoadedUdf> {
  let source: string;
  let file: string;
  let name: string;
  if (opts.engine !== undefined) {
    if (typeof script !== 'string') throw new InsituError('BAD_INPUT', 'with an engine, loadUdf takes a stored script name');
    const s = await opts.engine.session({ user: opts.user ?? 'insitu' }).scripts.load(script, opts.owner === undefined ? {} : { owner: opts.owner });
    source = s.source;
    name = opts.function ?? s.name;
    file = `<script ${s.name}>`;
  } else {
    file = typeof script === 'string' ? resolve(script) : fileURLToPath(script);
    try {
      source = readFileSync(file, 'utf8');
    } catch (e) {
      throw new InsituError('BAD_INPUT', `cannot read UDF file ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    name = scriptName(file, opts.function);
  }
  const engine = await helperEngine();
  const me = engine.session({ user: 'test' });
  const func = { source, name };
  let tables = 0;
  const input = async (data: UdfData) => me.create(`T${++tables}`, data, { overwrite: true });
  const call = async (run: (s: Session) => Promise<ApplyResult>): Promise<ApplyResult> => {
    try {
      return await run(me);
    } catch (e) {
      throw withFile(e, name, file);
    }
  };
  return {
    file,
    table: (data, args = {}) => call(async (s) => s.tableApply(await input(data), func, { args })),
    rows: (data, o = {}) => call(async (s) => s.rowApply(await input(data), func, { args: o.args ?? {}, ...(o.rows === undefined ? {} : { rows: o.rows }) })),
    groups: (data, by, args = {}) => call(async (s) => s.groupApply(await input(data), typeof by === 'string' ? [by] : by, func, { args })),
    eval: (args = {}) => call((s) => s.doEval(func, { args })),
    index: (times, args = {}) => call((s) => s.indexApply(times, func, { args })),
  };
}

/** The error with `<script NAME>` in its traceback and message shown as the file it came from. */
function withFile(e: unknown, name: string, file: string): unknown {
  if (!(e instanceof InsituError) || file.startsWith('<')) return e;
  const swap = (t: string) => t.split(`"<script ${name}>"`).join(JSON.stringify(file)).split(`(script ${name}, line`).join(`(${file}, line`);
  const details = e.toJSON();
  return new InsituError(e.code, swap(e.message), { ...details, ...(details.traceback === undefined ? {} : { traceback: swap(details.traceback) }), cause: e });
}
