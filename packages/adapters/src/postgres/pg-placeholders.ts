/**
 * A UDF's statement with SQLite-style `?` placeholders numbered as PostgreSQL's `$1`, `$2`, ... so the
 * same `insitu.connect()` code runs on both backends. Only when the statement has parameters and no
 * `$n` placeholder of its own; `?` inside string literals, quoted identifiers, dollar-quoted strings and
 * comments is left alone.
 */
export function numberedPlaceholders(sql: string, paramCount: number): string {
  if (paramCount === 0 || !sql.includes('?') || /\$\d/.test(sql)) return sql;
  let out = '';
  let n = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    let end = i + 1;
    if (c === "'" || c === '"') {
      // A doubled quote inside stays inside.
      end = sql.indexOf(c, i + 1);
      while (end !== -1 && sql[end + 1] === c) end = sql.indexOf(c, end + 2);
      end = end === -1 ? sql.length : end + 1;
    } else if (c === '-' && next === '-') {
      end = sql.indexOf('\n', i);
      end = end === -1 ? sql.length : end + 1;
    } else if (c === '/' && next === '*') {
      end = sql.indexOf('*/', i + 2);
      end = end === -1 ? sql.length : end + 2;
    } else if (c === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(sql.slice(i));
      if (tag !== null) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        end = close === -1 ? sql.length : close + tag[0].length;
      }
    } else if (c === '?') {
      out += `$${++n}`;
      i = end;
      continue;
    }
    out += sql.slice(i, end);
    i = end;
  }
  return out;
}
