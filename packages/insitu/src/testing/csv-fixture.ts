import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import type { RowObject } from '@insitu/core';

/** Options of {@link loadCsv}. */
export interface LoadCsvOptions {
  /** Field delimiter. Default `,`. */
  readonly delimiter?: string;
  /** Turn numbers into numbers and empty fields into null. Default true; false keeps every field as text. */
  readonly cast?: boolean;
}

/**
 * Rows of a CSV file with a header line, as row objects for `udf.table(rows)` or `session.create()`:
 * numeric fields become numbers and empty fields null (unless `cast: false`).
 */
export function loadCsv(path: string | URL, opts: LoadCsvOptions = {}): RowObject[] {
  const text = readFileSync(path, 'utf8');
  const cast = opts.cast !== false;
  return parse(text, {
    columns: true,
    skip_empty_lines: true,
    delimiter: opts.delimiter ?? ',',
    cast: cast ? (value: string, ctx: { quoting: boolean }) => (ctx.quoting ? value : value === '' ? null : /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value) ? Number(value) : value) : false,
  }) as RowObject[];
}
