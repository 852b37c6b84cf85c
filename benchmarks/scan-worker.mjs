// Scan-floor helper: one worker thread reading an id range on its own connection.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { readColumns, readRows } from './scan-read.mjs';

const { path, lo, hi, mode, chunk } = workerData;
const db = new Database(path, { readonly: true });
const n = (mode === 'columns' ? readColumns : readRows)(db, lo, hi, chunk);
db.close();
parentPort.postMessage({ n });
