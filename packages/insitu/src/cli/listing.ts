import CliTable from 'cli-table3';
import { bigintText } from './exit-codes.js';

/** A listing cell as text. */
function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v, bigintText);
  return String(v);
}

/**
 * Print records: an aligned table of `columns` on a terminal, JSON (one array, every field) with
 * `--json` or when stdout is piped.
 */
export function printRecords(records: readonly object[], columns: readonly string[], json: boolean | undefined): void {
  if (json === true || process.stdout.isTTY !== true) {
    process.stdout.write(`${JSON.stringify(records, bigintText, 2)}\n`);
    return;
  }
  const t = new CliTable({ head: [...columns], style: { head: [], border: [], compact: true } });
  for (const r of records) t.push(columns.map((c) => text((r as Record<string, unknown>)[c])));
  process.stdout.write(`${t.toString()}\n`);
}

/** Print one record as JSON (pretty). */
export function printRecord(record: unknown): void {
  process.stdout.write(`${JSON.stringify(record, bigintText, 2)}\n`);
}
