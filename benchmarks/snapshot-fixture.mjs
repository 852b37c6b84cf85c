// The start-up snapshot the benchmarks' engines use: a directory of their own under benchmarks/out/,
// so that other programs on the machine writing ~/.cache/insitu cannot replace it between starts.
//
// Working around a bug in the engine (packages/runtime-pyodide/src/snapshot-cache.ts, as of this
// commit): each start that finds the snapshot marks it used by setting its times with a Date, which
// drops the sub-millisecond part of the file's mtime; the record beside the snapshot holds the mtime
// with that part, so the next start finds the record stale and makes the snapshot again (~2-7 s),
// and every other start pays for it. Cold starts are meant to be measured with a valid snapshot on
// disk, so before each one the benchmark sets the file's mtime to a whole millisecond and writes the
// same value into the record, which the engine's marking then leaves intact. The record's format
// (sha256, ino, size, mtimeMs) is the engine's private one: if it changes, this does nothing and
// the benchmark reports starts that made a snapshot (see `snapshotState`).
import { readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The benchmarks' snapshot directory. */
export const SNAPSHOT_DIR = fileURLToPath(new URL('./out/snapshot/', import.meta.url));

/** The snapshot files in `dir` (normally one) with their inode and mtime. */
export function snapshotState(dir = SNAPSHOT_DIR) {
  let names;
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.snapshot'));
  } catch {
    return [];
  }
  return names.map((n) => {
    const st = statSync(join(dir, n));
    return { name: n, ino: st.ino, mtimeMs: st.mtimeMs };
  });
}

/** Whether a start between `before` and `after` (from {@link snapshotState}) wrote a snapshot. */
export function snapshotWritten(before, after) {
  return after.some((a) => !before.some((b) => b.name === a.name && b.ino === a.ino));
}

/**
 * Make every snapshot in `dir` whose record matches it keep matching after an engine marks it used
 * (see the module comment). Returns how many records it adjusted.
 */
export function keepSnapshotsValid(dir = SNAPSHOT_DIR) {
  let fixed = 0;
  for (const { name } of snapshotState(dir)) {
    const file = join(dir, name);
    const recordFile = `${file}.json`;
    try {
      const rec = JSON.parse(readFileSync(recordFile, 'utf8'));
      const st = statSync(file);
      const keys = Object.keys(rec).sort().join(',');
      if (keys !== 'ino,mtimeMs,sha256,size' || rec.ino !== st.ino || rec.size !== st.size || rec.mtimeMs !== st.mtimeMs) continue;
      if (Number.isInteger(st.mtimeMs)) continue;
      const whole = Math.floor(st.mtimeMs);
      utimesSync(file, st.atime, new Date(whole));
      const now = statSync(file).mtimeMs;
      if (now !== whole) continue;
      writeFileSync(recordFile, JSON.stringify({ ...rec, mtimeMs: now }));
      fixed++;
    } catch {
      // No record, or being rewritten: the next start makes a new snapshot, which is reported.
    }
  }
  return fixed;
}
