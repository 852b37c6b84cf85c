import { badInput } from './errors.js';
import { checkIdentifier } from './identifiers.js';

/**
 * Where an apply call writes its result table (`options.into`): `create` makes a new table (an existing
 * one is ALREADY_EXISTS), `append` adds rows to a table the caller may write, `replace` replaces a table
 * the caller owns (or creates it). The write commits once, when the call succeeds.
 */
export interface IntoTarget {
  /** The table to write. */
  readonly table: string;
  /** Default `'create'`. */
  readonly mode?: IntoMode;
}

/** How {@link IntoTarget.table} is written. */
export type IntoMode = 'create' | 'append' | 'replace';

/** The modes of {@link IntoMode}, for validation. */
export const INTO_MODES: readonly IntoMode[] = ['create', 'append', 'replace'];

/** What a call with `into` reports: the table written, how, and how many rows it wrote. */
export interface IntoSummary {
  readonly table: string;
  readonly mode: IntoMode;
  /** Rows the call wrote (for `append`, the rows added). */
  readonly rows: number;
}

/** Validate an `into` option: `{ table, mode? }` (a table name alone is `{ table }`). */
export function checkInto(v: unknown, field = 'into'): Required<IntoTarget> {
  const o = typeof v === 'string' ? { table: v } : v;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw badInput(`${field} must be { table, mode?: 'create' | 'append' | 'replace' }`);
  for (const k of Object.keys(o)) if (k !== 'table' && k !== 'mode') throw badInput(`${field}.${k} is not a field of into (it takes table and mode)`);
  const { table, mode } = o as { table?: unknown; mode?: unknown };
  checkIdentifier(table, `${field}.table`);
  if (mode !== undefined && !(INTO_MODES as readonly unknown[]).includes(mode)) {
    throw badInput(`${field}.mode must be one of ${INTO_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  }
  return { table: table as string, mode: (mode ?? 'create') as IntoMode };
}
