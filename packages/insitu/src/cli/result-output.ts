import { Table, tableToIPC } from 'apache-arrow';
import CliTable from 'cli-table3';
import { stringify } from 'csv-stringify/sync';
import type { ApplyResult, PartitionKey } from '@insitu/core';
import { bigintText } from './exit-codes.js';

/** How `insitu run` prints a result: an aligned table, CSV, JSON, or Arrow IPC (stream format). */
export type OutputFormat = 'table' | 'csv' | 'json' | 'arrow';

/** The output formats, for validation. */
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'csv', 'json', 'arrow'];

/** The format when none is asked for: an aligned table on a terminal, CSV when piped. */
export function defaultFormat(stdoutIsTty: boolean): OutputFormat {
  return stdoutIsTty ? 'table' : 'csv';
}

/** One cell as text: numbers and text as they are, 64-bit integers exactly, dates ISO, bytes base64. */
function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return String(v);
}

/** A cell as JSON: bigints as numbers when exact, else text; dates ISO; bytes base64. */
function cellJson(v: unknown): unknown {
  if (typeof v === 'bigint') return bigintText('', v);
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return v;
}

/** Rows of an Arrow table as plain objects, cells as JSON. */
function jsonRows(t: Table): Record<string, unknown>[] {
  const names = t.schema.fields.map((f) => f.name);
  const cols = names.map((n) => t.getChild(n)!);
  return Array.from({ length: t.numRows }, (_, i) => Object.fromEntries(names.map((n, j) => [n, cellJson(cols[j]!.get(i))])));
}

/** A UDF value (or list of them) as JSON-able data: tables become lists of row objects. */
export function jsonValue(v: unknown): unknown {
  if (v instanceof Table) return jsonRows(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(jsonValue);
  return v;
}

/** The bytes to write to stdout for `result` in `format` (a value that is not a table prints as JSON, except in arrow). */
export function renderResult(result: ApplyResult, format: OutputFormat): Uint8Array | string {
  const v = result.value;
  if (format === 'arrow') {
    if (!(v instanceof Table)) throw new Error('the result is not one table, so it has no Arrow form: use --format json');
    return tableToIPC(v, 'stream');
  }
  if (v instanceof Table) {
    const names = v.schema.fields.map((f) => f.name);
    const cols = names.map((n) => v.getChild(n)!);
    const rows = Array.from({ length: v.numRows }, (_, i) => cols.map((c) => cellText(c.get(i))));
    if (format === 'csv') return stringify(rows, { header: true, columns: names });
    if (format === 'json') return `${JSON.stringify(jsonRows(v), bigintText)}\n`;
    const t = new CliTable({ head: names, style: { head: [], border: [], compact: true } });
    t.push(...rows);
    return `${t.toString()}\n(${v.numRows} ${v.numRows === 1 ? 'row' : 'rows'})\n`;
  }
  return `${JSON.stringify(jsonValue(v), bigintText, format === 'table' ? 2 : undefined)}\n`;
}

/** How a partition is named in the CLI's output: `chunk 3`, `SPECIES=setosa`, `index 2`. */
export function partitionLabel(key: PartitionKey): string {
  if (key === null) return '';
  if (typeof key === 'number') return `index ${key}`;
  if ('chunk' in key && typeof key.chunk === 'number') return `chunk ${key.chunk}`;
  return Object.entries(key)
    .map(([k, v]) => `${k}=${cellText(v)}`)
    .join(',');
}

/**
 * What the UDF printed, per partition, for stderr: one partition's text as it is; several partitions'
 * texts each line prefixed with the partition's label (`[chunk 2] ...`).
 */
export function udfOutput(result: ApplyResult, stream: 'stdout' | 'stderr'): string {
  const parts = result.partitions.filter((p) => p[stream] !== '');
  if (parts.length === 0) return '';
  if (result.partitions.length === 1) return parts[0]![stream].endsWith('\n') ? parts[0]![stream] : `${parts[0]![stream]}\n`;
  return parts
    .map((p) => {
      const label = `[${partitionLabel(p.key)}] `;
      return p[stream].replace(/\n$/, '').split('\n').map((l) => label + l).join('\n') + '\n';
    })
    .join('');
}
