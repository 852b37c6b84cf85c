import Database from 'better-sqlite3';
import { scanBatches } from './dist/sqlite/sqlite-scanner.js';
import { ColumnWriter } from './dist/sqlite/sqlite-column-builder.js';
const db = new Database('/work/main/benchmarks/out/data-1000000.db', { readonly: true });
function time(label, fn) { let best = 1e9; for (let i = 0; i < 5; i++) { const t = performance.now(); fn(); best = Math.min(best, performance.now() - t); } console.log(label, best.toFixed(0), 'ms'); }
const sql = 'SELECT "id", "x1", "x2", "x3" FROM "DATA" AS "t" WHERE "t".rowid >= ? AND "t".rowid < ? ORDER BY "t".rowid';
const st = db.prepare(sql);
time('scanBatches rows', () => { for (let lo = 1; lo <= 1000000; lo += 100000) for (const t of scanBatches(st, [lo, lo + 100000], 65536)) {} });
const names = ['id', 'x1', 'x2', 'x3']; const kinds = ['int64', 'float64', 'float64', 'float64'];
const cs = names.map((c) => db.prepare(`SELECT "${c}" FROM "DATA" AS "t" WHERE "t".rowid >= ? AND "t".rowid < ? ORDER BY "t".rowid`).pluck(true));
time('column pluck + writer', () => {
  for (let lo = 1; lo <= 1000000; lo += 100000) {
    db.exec('BEGIN');
    const cols = cs.map((s, c) => { const vals = s.all(lo, lo + 100000); const w = new ColumnWriter(kinds[c], names[c], vals.length); for (let i = 0; i < vals.length; i++) w.put(i, vals[i]); return w.finish(vals.length); });
    db.exec('COMMIT');
  }
});
