import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { version as pyodideVersion } from 'pyodide';

/** Bumped whenever what goes into a snapshot changes shape. */
const FORMAT = 1;
/** Other snapshots (other insitu or Pyodide versions) unused for this long are removed. */
const KEEP_UNUSED_MS = 7 * 24 * 3600 * 1000;
/** Temporary files of interrupted writes older than this are removed. */
const KEEP_TEMP_MS = 3600 * 1000;

/** The default directory for start-up snapshots: `$XDG_CACHE_HOME/insitu` or `~/.cache/insitu`. */
export function defaultSnapshotDir(): string {
  const base = process.env['XDG_CACHE_HOME'] ?? (homedir() === '' ? tmpdir() : join(homedir(), '.cache'));
  return join(base, 'insitu');
}

function hashTree(hash: ReturnType<typeof createHash>, dir: string): void {
  for (const entry of readdirSync(dir).sort()) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) {
      if (entry !== '__pycache__') hashTree(hash, p);
    } else if (entry.endsWith('.py')) {
      hash.update(entry).update(readFileSync(p));
    }
  }
}

/**
 * The snapshot file for this Pyodide build and this version of the `insitu` Python package. The name
 * changes whenever either does, so a stale snapshot is never loaded: a new one is made instead.
 */
export function snapshotPath(dir: string, pythonDir: string): string {
  const hash = createHash('sha256').update(`format ${FORMAT}\npyodide ${pyodideVersion}\nnode ${process.versions.modules}\n`);
  hashTree(hash, pythonDir);
  return join(dir, `pyodide-${pyodideVersion}-${hash.digest('hex').slice(0, 16)}.snapshot`);
}

/** Record that the snapshot at `path` was used now (its access time; pruning keeps recently used ones). */
function markUsed(path: string): void {
  try {
    utimesSync(path, new Date(), statSync(path).mtime);
  } catch {
    // A read-only cache directory: nothing is pruned there either.
  }
}

/** The snapshot bytes, or null when there is none yet. */
export function readSnapshot(path: string): Uint8Array | null {
  try {
    const bytes = new Uint8Array(readFileSync(path));
    markUsed(path);
    return bytes;
  } catch {
    return null;
  }
}

/** The snapshot bytes read straight into shared memory (for every worker of a pool), or null. */
export function readSharedSnapshot(path: string): SharedArrayBuffer | null {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const shared = new SharedArrayBuffer(size);
    const view = new Uint8Array(shared);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, view, off, size - off, off);
      if (n === 0) return null;
      off += n;
    }
    markUsed(path);
    return shared;
  } catch {
    return null;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Write a snapshot atomically (other workers may be reading the same path). Failures are ignored. */
export function writeSnapshot(path: string, dir: string, bytes: Uint8Array): void {
  try {
    mkdirSync(dir, { recursive: true });
    const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
    pruneSnapshots(dir, path);
  } catch {
    // A read-only or full disk only costs the next start its speed.
  }
}

/**
 * Remove snapshots in `dir` other than `keep` that no engine has used for a week (left by earlier
 * insitu or Pyodide versions; one still in use elsewhere is kept), and temporary files of writes that
 * were interrupted.
 */
export function pruneSnapshots(dir: string, keep: string, now = Date.now()): void {
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (p === keep || !entry.startsWith('pyodide-')) continue;
    try {
      const st = statSync(p);
      const last = Math.max(st.atimeMs, st.mtimeMs);
      const stale = entry.endsWith('.snapshot') ? now - last > KEEP_UNUSED_MS : entry.endsWith('.tmp') && now - st.mtimeMs > KEEP_TEMP_MS;
      if (stale) rmSync(p, { force: true });
    } catch {
      // Removed meanwhile by another engine.
    }
  }
}
