/**
 * Where a SELECT list item's alias is written, so that an unquoted alias keeps its spelling
 * (`avg(x) AS L` names the column `L`, as on SQLite, where PostgreSQL folds it to `l`). The parse tree
 * gives where an item starts, not where its alias is: the alias is the last name of the item's text,
 * which ends at a `,` or `)` outside brackets, at a clause keyword, or at the end.
 */

/** Keywords that end a SELECT list item when they stand outside brackets. */
const ENDS_ITEM = new Set(['from', 'where', 'group', 'having', 'window', 'order', 'limit', 'offset', 'fetch', 'union', 'intersect', 'except', 'into', 'for', 'returning']);

/** One name token of the item: where it is (character offsets) and whether it is quoted. */
interface NameToken {
  readonly at: number;
  readonly len: number;
  readonly quoted: boolean;
}

/**
 * The last name token of the SELECT list item starting at character offset `start` of `sql`, or null
 * when the item ends before any. Literals, quoted names, dollar-quoted strings and comments are skipped.
 */
export function lastNameOfItem(sql: string, start: number): NameToken | null {
  let last: NameToken | null = null;
  let depth = 0;
  let i = start;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      let nest = 1;
      i += 2;
      while (i < n && nest > 0) {
        if (sql.startsWith('/*', i)) {
          nest++;
          i += 2;
        } else if (sql.startsWith('*/', i)) {
          nest--;
          i += 2;
        } else i++;
      }
    } else if (c === "'") {
      const escapes = i > 0 && /[eE]/.test(sql[i - 1]!);
      i++;
      while (i < n) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") {
          i++;
          break;
        } else i++;
      }
      last = null;
    } else if (c === '"') {
      const from = i;
      i++;
      while (i < n) {
        if (sql[i] === '"' && sql[i + 1] === '"') i += 2;
        else if (sql[i] === '"') {
          i++;
          break;
        } else i++;
      }
      if (depth === 0) last = { at: from, len: i - from, quoted: true };
    } else if (c === '$' && /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.test(sql.slice(i, i + 64))) {
      const tag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i))![0];
      const end = sql.indexOf(tag, i + tag.length);
      i = end < 0 ? n : end + tag.length;
      last = null;
    } else if (c === '(' || c === '[') {
      depth++;
      i++;
    } else if (c === ')' || c === ']') {
      if (depth === 0) break;
      depth--;
      i++;
    } else if (c === ',' || c === ';') {
      if (depth === 0) break;
      i++;
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      const m = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(sql.slice(i))!;
      if (depth === 0) {
        if (i > start && ENDS_ITEM.has(m[0].toLowerCase())) break;
        last = { at: i, len: m[0].length, quoted: false };
      }
      i += m[0].length;
    } else if (/[0-9]/.test(c)) {
      i += /^[0-9.eE_]+/.exec(sql.slice(i))![0].length;
      if (depth === 0) last = null;
    } else {
      if (depth === 0 && !/\s/.test(c)) last = null;
      i++;
    }
  }
  return last;
}
