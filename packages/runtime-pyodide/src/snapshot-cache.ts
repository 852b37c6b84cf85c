import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, read, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, type Stats } from 'node:fs';
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
  // A file of its own: the snapshot's mtime must stay exactly as recorded (utimes would round it).
  const used = usedPath(path);
  const now = new Date();
  try {
    utimesSync(used, now, now);
  } catch {
    try {
      writeFileSync(used, '');
    } catch {
      // A read-only cache directory: nothing is pruned there either.
    }
  }
}

function usedPath(path: string): string {
  return `${path}.used`;
}

/** When the snapshot at `path` was last written, read or marked used. */
function lastUsedMs(path: string, st: Stats): number {
  let used = 0;
  try {
    used = statSync(usedPath(path)).mtimeMs;
  } catch {
    // never marked
  }
  return Math.max(st.atimeMs, st.mtimeMs, used);
}

/**
 * A start-up snapshot the engine made: its file and the SHA-256 of its bytes, which every worker
 * checks before restoring it (the file is read-only to the sandbox, the hash travels with the config).
 */
export interface PreparedSnapshot {
  readonly path: string;
  readonly sha256: string;
}

/**
 * The record written beside a snapshot: its hash, and the inode, size and mtime of the file written
 * (another engine's rename over it, or any other change, makes the record stale).
 */
interface SnapshotRecord {
  readonly sha256: string;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

function recordPath(path: string): string {
  return `${path}.json`;
}

/** The snapshot at `path` if its record matches the file as it is now; null otherwise. */
export function recordedSnapshot(path: string): PreparedSnapshot | null {
  try {
    const rec = JSON.parse(readFileSync(recordPath(path), 'utf8')) as SnapshotRecord;
    const st = statSync(path);
    if (typeof rec.sha256 !== 'string' || rec.ino !== st.ino || rec.size !== st.size || rec.mtimeMs !== st.mtimeMs) return null;
    markUsed(path);
    return { path, sha256: rec.sha256 };
  } catch {
    return null;
  }
}

/** The SHA-256 of `bytes`, hex. */
function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Write `bytes` to `path` atomically (another engine may be reading it); the file's stat as written. */
function writeAtomically(path: string, bytes: Uint8Array | string): Stats {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, bytes);
  const st = statSync(tmp);
  renameSync(tmp, path);
  return st;
}

/**
 * Store a snapshot the engine made, with its record (hash, size, mtime), and prune old ones. Null when
 * it cannot be written (a read-only or full disk only costs later starts their speed).
 */
export function storeSnapshot(path: string, dir: string, bytes: Uint8Array): PreparedSnapshot | null {
  try {
    mkdirSync(dir, { recursive: true });
    const sha256 = sha256Of(bytes);
    const st = writeAtomically(path, bytes);
    writeAtomically(recordPath(path), JSON.stringify({ sha256, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs } satisfies SnapshotRecord));
    pruneSnapshots(dir, path);
    return { path, sha256 };
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
 * meanwhile and wait for the bytes only when they need them (see {@link snapshotBytes}). Null
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

/**
 * A worker's own copy of the snapshot bytes once the pool has read them, or null if reading failed or
 * the bytes are not the ones the engine made (their SHA-256 differs). The copy is checked, not the
 * shared bytes, so nothing another thread writes to shared memory later can reach the interpreter.
 */
export async function snapshotBytes(s: SharedSnapshot, sha256: string): Promise<Uint8Array | null> {
  const wait = Atomics.waitAsync(s.state, 0, 0);
  if (wait.async) await wait.value;
  if (Atomics.load(s.state, 0) !== 1) return null;
  const own = new Uint8Array(s.bytes).slice();
  return sha256Of(own) === sha256 ? own : null;
}

/**
 * Remove snapshots in `dir` other than `keep` that no engine has used for a week (left by earlier
 * insitu or Pyodide versions; one still in use elsewhere is kept), and temporary files of writes that
 * were interrupted.
 */
export function pruneSnapshots(dir: string, keep: string, now = Date.now()): void {
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (p === keep || p === recordPath(keep) || p === usedPath(keep) || !entry.startsWith('pyodide-')) continue;
    try {
      const st = statSync(p);
      const stale = entry.endsWith('.snapshot') ? now - lastUsedMs(p, st) > KEEP_UNUSED_MS : entry.endsWith('.tmp') && now - st.mtimeMs > KEEP_TEMP_MS;
      if (stale) {
        rmSync(p, { force: true });
        if (entry.endsWith('.snapshot')) for (const companion of [recordPath(p), usedPath(p)]) rmSync(companion, { force: true });
      }
    } catch {
      // Removed meanwhile by another engine.
    }
  }
}
