// The two ways of reading the score columns with better-sqlite3 alone that the scan floor compares,
// both in id ranges of `chunk` rows like the score workload: an array per row (raw mode), or one
// column per statement (pluck) in one read transaction, which is how insitu's workers read chunks.
const COLUMNS = ['id', 'x1', 'x2', 'x3'];
const RANGE = 'FROM DATA WHERE id >= ? AND id < ? ORDER BY id';

/** Rows of ids [lo, hi) read with an array per row; returns the row count. */
export function readRows(conn, lo, hi, chunk) {
  const stmt = conn.prepare(`SELECT ${COLUMNS.join(', ')} ${RANGE}`).raw(true);
  let n = 0;
  for (let at = lo; at < hi; at += chunk) {
    for (const row of stmt.iterate(at, Math.min(hi, at + chunk))) n += row.length > 0 ? 1 : 0;
  }
  return n;
}

/** The same rows read column by column into Float64Arrays; returns the row count. */
export function readColumns(conn, lo, hi, chunk) {
  const stmts = COLUMNS.map((c) => conn.prepare(`SELECT ${c} ${RANGE}`).pluck(true));
  const begin = conn.prepare('BEGIN');
  const commit = conn.prepare('COMMIT');
  let n = 0;
  for (let at = lo; at < hi; at += chunk) {
    begin.run();
    try {
      const cols = stmts.map((s) => Float64Array.from(s.all(at, Math.min(hi, at + chunk))));
      n += cols[0].length;
    } finally {
      commit.run();
    }
  }
  return n;
}
