/** Reading SQL text without a parser: only what every SQL dialect shares. */

/**
 * The statement's first keyword, past whitespace and comments (`-- ...` and `/* ... *\/`), upper case;
 * for `EXPLAIN [QUERY PLAN] stmt`, the keyword of `stmt`.
 */
export function leadingKeyword(sql: string): string {
  const words: string[] = [];
  let i = 0;
  while (i < sql.length && words.length < 4) {
    const c = sql[i]!;
    if (/\s/.test(c)) i++;
    else if (sql.startsWith('--', i)) i = sql.includes('\n', i) ? sql.indexOf('\n', i) + 1 : sql.length;
    else if (sql.startsWith('/*', i)) i = sql.includes('*/', i + 2) ? sql.indexOf('*/', i + 2) + 2 : sql.length;
    else {
      const m = /^[A-Za-z_]+/.exec(sql.slice(i));
      if (m === null) break;
      const w = m[0].toUpperCase();
      i += m[0].length;
      if (w === 'EXPLAIN' || (words.at(-1) === 'EXPLAIN' && w === 'QUERY') || (words.at(-1) === 'QUERY' && w === 'PLAN')) {
        words.push(w);
        continue;
      }
      return w;
    }
  }
  return '';
}
