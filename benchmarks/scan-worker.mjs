// Scan-floor helper: one worker thread scanning an id range on its own connection.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { path, lo, hi } = workerData;
const db = new Database(path, { readonly: true });
let n = 0;
let s = 0;
for (const [, a] of db.prepare('SELECT id, x1, x2, x3 FROM DATA WHERE id >= ? AND id < ?').raw(true).iterate(lo, hi)) {
  n++;
  s += a;
}
db.close();
parentPort.postMessage({ n, s });
