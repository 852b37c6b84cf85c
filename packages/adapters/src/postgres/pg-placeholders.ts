import { badInput } from '@insitu/core';

/**
 * Where each `?` placeholder of `sql` is, skipping string literals ('...', E'...'), quoted identifiers
 * ("..."), dollar-quoted strings ($tag$...$tag$), line comments and (nested) block comments: the
 * offsets of the `?` characters that are PostgreSQL text outside all of those.
 */
function placeholderOffsets(sql: string): number[] {
  const at: number[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
    } else if (c === "'") {
      // E'...' strings take backslash escapes; standard ones only ''.
      const escapes = i > 0 && /[eE]/.test(sql[i - 1]!) && (i < 2 || !/[A-Za-z0-9_$]/.test(sql[i - 2]!));
      i++;
      while (i < n) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") {
          i++;
          break;
        } else i++;
      }
    } else if (c === '"') {
      i++;
      while (i < n) {
        if (sql[i] === '"' && sql[i + 1] === '"') i += 2;
        else if (sql[i] === '"') {
          i++;
          break;
        } else i++;
      }
    } else if (c === '$' && (i === 0 || !/[A-Za-z0-9_$]/.test(sql[i - 1]!))) {
      const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i));
      if (m === null) {
        i++;
        continue;
      }
      const end = sql.indexOf(m[0], i + m[0].length);
      i = end < 0 ? n : end + m[0].length;
    } else if (c === '?') {
      at.push(i);
      i++;
    } else i++;
  }
  return at;
}

/**
 * `sql` written with `?` placeholders (as query proxies, filters and the SQLite adapter take them) as
 * PostgreSQL text with `$1`, `$2`, ... in their place. A `?` inside a literal, a quoted identifier or a
 * comment is left alone. Text that already uses `$n` placeholders (and no `?`) is returned as it is.
 * The number of placeholders must match `paramCount` (BAD_INPUT otherwise). PostgreSQL's jsonb
 * operators `?`, `?|`, `?&` cannot be written in such text: use jsonb_exists() and friends instead.
 */
export function rebindPlaceholders(sql: string, paramCount: number): string {
  const at = placeholderOffsets(sql);
  if (at.length === 0) return sql;
  if (at.length !== paramCount) {
    throw badInput(`the SQL has ${at.length} ? placeholder(s) but ${paramCount} parameter(s) were given: ${sql.slice(0, 200)}`);
  }
  let out = '';
  let from = 0;
  at.forEach((offset, k) => {
    out += `${sql.slice(from, offset)}$${k + 1}`;
    from = offset + 1;
  });
  return out + sql.slice(from);
}
