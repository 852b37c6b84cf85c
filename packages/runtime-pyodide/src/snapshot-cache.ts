import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, read, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
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

/**
 * A snapshot being read into shared memory for every worker of a pool: `state[0]` is 0 while reading,
 * 1 once `bytes` holds the file, 2 if the read failed.
 */
export interface SharedSnapshot {
  readonly bytes: SharedArrayBuffer;
  readonly state: Int32Array;
}

/**
 * Start reading the snapshot at `path` into shared memory, in the background: workers start booting
 * meanwhile and wait for the bytes only when they need them (see {@link sharedSnapshotBytes}). Null
 * when there is no snapshot file.
 */
export function readSharedSnapshot(path: string): SharedSnapshot | null {
  let fd: number;
  let size: number;
  try {
    fd = openSync(path, 'r');
    size = fstatSync(fd).size;
  } catch {
    return null;
  }
  const bytes = new SharedArrayBuffer(size);
  const state = new Int32Array(new SharedArrayBuffer(4));
  const view = new Uint8Array(bytes);
  const settle = (ok: boolean) => {
    closeSync(fd);
    if (ok) markUsed(path);
    Atomics.store(state, 0, ok ? 1 : 2);
    Atomics.notify(state, 0);
  };
  const readFrom = (off: number): void => {
    if (off >= size) return settle(true);
    read(fd, view, off, size - off, off, (err, n) => (err !== null || n === 0 ? settle(false) : readFrom(off + n)));
  };
  readFrom(0);
  return { bytes, state };
}

/** The bytes of a shared snapshot once they are read, or null if reading failed. */
export async function sharedSnapshotBytes(s: SharedSnapshot): Promise<Uint8Array | null> {
  const wait = Atomics.waitAsync(s.state, 0, 0);
  if (wait.async) await wait.value;
  return Atomics.load(s.state, 0) === 1 ? new Uint8Array(s.bytes) : null;
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
