import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { InsituError } from 'insitu';
import { ON_POSTGRES, freshPostgresDatabase } from './backend.js';

/**
 * A fresh database for one test file and a cleanup function: `path` is a SQLite file in a new temp
 * directory `dir`, or on the PostgreSQL run (test/backend.ts) the URL of a new empty database (and
 * `dir` still a temp directory for other files).
 */
export function tempDatabase(name = 'test.db'): { path: string; dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'insitu-test-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  if (!ON_POSTGRES) return { path: join(dir, name), dir, cleanup: removeDir };
  const pg = freshPostgresDatabase();
  return {
    path: pg.url,
    dir,
    cleanup: () => {
      pg.drop();
      removeDir();
    },
  };
}

/** A SQLite temp file whatever the backend, for tests of SQLite itself (and a cleanup function). */
export function tempSqliteDatabase(name = 'test.db'): { path: string; dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'insitu-test-'));
  return { path: join(dir, name), dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Await `p`, expect it to reject with an InsituError of `code`, and return the error. */
export async function rejectsWith(p: Promise<unknown> | (() => unknown), code: string): Promise<InsituError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(InsituError);
    expect((e as InsituError).code, (e as Error).message).toBe(code);
    return e as InsituError;
  }
  throw new Error(`expected an InsituError with code ${code}, but the call succeeded`);
}

/** The demo's IRIS rows (demo/iris.csv) as row objects: SPECIES text, the measurements numbers. */
export function irisRows(): Record<string, string | number>[] {
  const [header, ...lines] = readFileSync(new URL('../demo/iris.csv', import.meta.url), 'utf8').trim().split('\n');
  const names = header!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i]!, names[i] === 'SPECIES' ? v : Number(v)])));
}
