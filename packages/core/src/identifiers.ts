import { badInput } from './errors.js';

/** Longest identifier insitu accepts for tables, columns, scripts and datastores. */
export const MAX_IDENTIFIER_LENGTH = 128;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Check a user-supplied identifier (table, column, script name) and return it.
 *
 * Accepted: ASCII letters, digits and `_`, not starting with a digit, 1..128 characters. Anything else
 * (quotes, semicolons, spaces, NUL, non-ASCII) is BAD_INPUT, so identifiers can always be quoted safely.
 * Names starting with `insitu_` or `sqlite_` are reserved unless `reservedPrefixes` is false (columns).
 */
export function checkIdentifier(name: unknown, what: string, opts: { reservedPrefixes?: boolean } = {}): string {
  if (typeof name !== 'string') {
    throw badInput(`${what} name must be a string, got ${typeof name}`);
  }
  if (name.length === 0 || name.length > MAX_IDENTIFIER_LENGTH) {
    throw badInput(`${what} name must be 1 to ${MAX_IDENTIFIER_LENGTH} characters long, got ${name.length}`);
  }
  if (!IDENTIFIER.test(name)) {
    throw badInput(
      `${what} name ${JSON.stringify(name.slice(0, 64))} is not valid: use letters, digits and _ and start with a letter or _`,
    );
  }
  const lower = name.toLowerCase();
  if (opts.reservedPrefixes !== false && (lower.startsWith('insitu_') || lower.startsWith('sqlite_'))) {
    throw badInput(`${what} name ${JSON.stringify(name)} is reserved: names starting with insitu_ or sqlite_ belong to the engine`);
  }
  return name;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Longest column name insitu accepts. */
export const MAX_COLUMN_NAME_LENGTH = 1024;

/**
 * Check a column name and return it. Columns are named as pandas and scikit-learn name them: any text
 * of 1 to {@link MAX_COLUMN_NAME_LENGTH} characters without NUL or lone surrogates (`sepal length (cm)`, `a.b`, `größe`, `"x"`),
 * always quoted with {@link quoteIdentifier} where it meets SQL, never interpolated. Empty names and
 * NUL are BAD_INPUT: SQLite cannot hold them.
 */
export function checkColumnName(name: unknown, what = 'column'): string {
  if (typeof name !== 'string') throw badInput(`${what} name must be a string, got ${typeof name}`);
  if (name.length === 0 || name.length > MAX_COLUMN_NAME_LENGTH) {
    throw badInput(`${what} name must be 1 to ${MAX_COLUMN_NAME_LENGTH} characters long, got ${name.length}`);
  }
  if (name.includes('\0')) throw badInput(`${what} name ${JSON.stringify(name.slice(0, 64))} holds a NUL character, which SQLite cannot hold in a name`);
  if (LONE_SURROGATE.test(name)) throw badInput(`${what} name ${JSON.stringify(name.slice(0, 64))} is not well-formed Unicode (a lone surrogate): it would not survive UTF-8`);
  return name;
}

/** Quote an identifier that has passed {@link checkIdentifier} (or an engine-owned name) for SQL. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
