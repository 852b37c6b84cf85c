// The two ways of reading the score columns with better-sqlite3 alone that the scan floor compares:
// an array per row (raw mode), or one column per statement (pluck) in one read transaction, which is
// how insitu's workers read table chunks.
const COLUMNS = ['id', 'x1', 'x2', 'x3'];
const RANGE = 'FROM DATA WHERE id >= ? AND id < ? ORDER BY id';

/** Rows read with an array per row; returns the row count. */
export function readRows(conn, lo, hi) {
  let n = 0;
  for (const row of conn.prepare(`SELECT ${COLUMNS.join(', ')} ${RANGE}`).raw(true).iterate(lo, hi)) n += row.length > 0 ? 1 : 0;
  return n;
}

/** The same rows read column by column into Float64Arrays; returns the row count. */
export function readColumns(conn, lo, hi) {
  conn.prepare('BEGIN').run();
  try {
    const cols = COLUMNS.map((c) => Float64Array.from(conn.prepare(`SELECT ${c} ${RANGE}`).pluck(true).all(lo, hi)));
    return cols[0].length;
  } finally {
    conn.prepare('COMMIT').run();
  }
}
