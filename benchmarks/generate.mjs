// Deterministic benchmark data: id, grp (1000 groups), sub (10,000 groups of 100 rows: id % 10000),
// three float features, a float target, a text column, written to a SQLite file once per size (reused while the file exists).
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

/** Park–Miller LCG: the same rows on every machine. */
function rng(seed) {
  let s = seed % 2147483647;
  return () => (s = (s * 48271) % 2147483647) / 2147483647;
}

export const TRUE_WEIGHTS = { w0: 0.5, w1: 1.5, w2: -2.0, w3: 0.25 };

/** Create (or reuse) `path` holding `rows` rows of the benchmark table DATA. */
export function generate(path, rows, groups = 1000) {
  if (existsSync(path)) return path;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE DATA (id INTEGER PRIMARY KEY, grp INTEGER NOT NULL, sub INTEGER NOT NULL, x1 REAL, x2 REAL, x3 REAL, y REAL, txt TEXT)`);
  const insert = db.prepare('INSERT INTO DATA VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const r = rng(42);
  const { w0, w1, w2, w3 } = TRUE_WEIGHTS;
  const batch = db.transaction((from, to) => {
    for (let id = from; id < to; id++) {
      const grp = Math.floor(r() * groups);
      const x1 = r() * 10;
      const x2 = r() * 5;
      const x3 = r() * 100;
      const y = w0 + w1 * x1 + w2 * x2 + w3 * x3 + (r() - 0.5) * 0.1 + grp * 0.001 * x1;
      insert.run(id, grp, id % 10_000, x1, x2, x3, y, `row-${id}-${grp}`);
    }
  });
  for (let from = 0; from < rows; from += 100_000) batch(from, Math.min(rows, from + 100_000));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  renameSync(tmp, path);
  return path;
}
