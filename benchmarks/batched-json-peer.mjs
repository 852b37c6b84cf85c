// The batched subprocess-JSON peer of the score workload, as a Node service batching work to Python
// would run it: Node reads the table with better-sqlite3 in id ranges of `chunk` rows (column by
// column, the faster way in the scan floor), keeps each chunk's ids and sends its feature columns to
// one of `processes` python3 children (peers/json_batch_score.py) as one JSON array on one line; the
// child scores the chunk and replies with one JSON array of predictions on one line. The time counts
// from spawning the children to all of them having exited, like the native peers' process runs.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const SCRIPT = fileURLToPath(new URL('./peers/json_batch_score.py', import.meta.url));
const RANGE = 'FROM DATA WHERE id >= ? AND id < ? ORDER BY id';
// Chunks sent to a child and not yet answered: one being scored, one on its way, so a child never
// idles while Node reads and encodes its next chunk.
const IN_FLIGHT = 2;

/** Calls `onLine` with each complete line (without its newline) that arrives on a byte stream. */
function onLines(stream, onLine) {
  let parts = [];
  stream.on('data', (buf) => {
    let from = 0;
    for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10, from)) {
      parts.push(buf.subarray(from, nl));
      onLine(Buffer.concat(parts).toString('utf8'));
      parts = [];
      from = nl + 1;
    }
    if (from < buf.length) parts.push(buf.subarray(from));
  });
}

/**
 * Scores every row of DATA in `path` through `processes` python3 children fed one JSON array per
 * chunk of `chunk` rows. Resolves to { rows, checksum, ms, chunks }: the row count and the sum of the
 * predictions, for the same agreement check as the other peers.
 */
export function batchedJsonScore(path, processes, chunk) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const conn = new Database(path, { readonly: true });
    const [idStmt, ...featureStmts] = ['id', 'x1', 'x2', 'x3'].map((c) => conn.prepare(`SELECT ${c} ${RANGE}`).pluck(true));
    const begin = conn.prepare('BEGIN');
    const commit = conn.prepare('COMMIT');
    const { lo, hi } = conn.prepare('SELECT min(id) AS lo, max(id) + 1 AS hi FROM DATA').get();

    // The result as a service would hold it: each chunk's ids next to the predictions it got back.
    const result = [];
    let rows = 0;
    let checksum = 0;
    let next = lo;
    let exited = 0;
    let failure;
    const fail = (err) => {
      if (failure !== undefined) return;
      failure = err;
      for (const c of children) c.proc.kill();
    };

    /** Reads ids [at, to) in one read transaction: the ids, and the JSON line carrying the features. */
    const read = (at, to) => {
      begin.run();
      try {
        const ids = idStmt.all(at, to);
        const line = JSON.stringify(featureStmts.map((s) => s.all(at, to))) + '\n';
        return { ids, line };
      } finally {
        commit.run();
      }
    };

    /**
     * Sends a child its next chunk if it has fewer than IN_FLIGHT and none still being written;
     * closes its stdin once nothing is left for it. Node's stdio pipes are socket pairs with a small
     * buffer, so a chunk of megabytes goes out in many writes driven by the event loop: reading the
     * next chunk (synchronous) only after the previous one is written keeps the child from waiting
     * on a half-sent line while Node is busy.
     */
    const feed = (c) => {
      if (failure !== undefined || c.writing || c.ended) return;
      if (c.waiting.length < IN_FLIGHT && next < hi) {
        const at = next;
        next = Math.min(hi, at + chunk);
        const { ids, line } = read(at, next);
        c.waiting.push(ids);
        c.writing = true;
        c.proc.stdin.write(line, () => {
          c.writing = false;
          feed(c);
        });
      } else if (next >= hi && c.waiting.length === 0) {
        c.ended = true;
        c.proc.stdin.end();
      }
    };

    const children = Array.from({ length: processes }, () => {
      const proc = spawn('python3', [SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
      return { proc, waiting: [], writing: false, ended: false };
    });
    for (const c of children) {
      c.proc.on('error', fail);
      c.proc.stdin.on('error', fail);
      onLines(c.proc.stdout, (line) => {
        const preds = JSON.parse(line);
        const ids = c.waiting.shift();
        if (ids === undefined || preds.length !== ids.length) {
          fail(new Error(`batched JSON peer: a reply of ${preds.length} predictions for a chunk of ${ids?.length} rows`));
          return;
        }
        for (const p of preds) checksum += p;
        rows += ids.length;
        result.push({ ids, preds });
        feed(c);
      });
      c.proc.on('close', (code, signal) => {
        if (failure === undefined && (code !== 0 || c.waiting.length > 0)) {
          fail(new Error(`batched JSON peer: python3 exited with ${signal ?? code} and ${c.waiting.length} chunks unanswered`));
        }
        if (++exited < processes) return;
        const ms = performance.now() - t;
        conn.close();
        if (failure !== undefined) reject(failure);
        else resolve({ rows, checksum, ms, chunks: result.length });
      });
    }
    for (const c of children) feed(c);
  });
}
