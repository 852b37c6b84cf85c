import Database from 'better-sqlite3';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createEngine } from 'insitu';
import { ON_POSTGRES } from './backend.js';
import { tempDatabase } from './helpers.js';

/** The engine tables the test checks, read behind the engine's back (as an operator would). */
interface EngineTables {
  integrity(): string;
  script(name: string): { source: string; description: string } | undefined;
  /** A datastore's objects of user crash, by name, each with its data as text. */
  objects(datastore: string): { name: string; data: string }[];
  datastoreCount(name: string): number;
  close(): void;
}

function engineTables(location: string): EngineTables {
  if (ON_POSTGRES) {
    const rows = (sql: string): string[][] =>
      execFileSync('psql', [location, '-X', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8', maxBuffer: 64 << 20 })
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split('\t'));
    return {
      integrity: () => 'ok',
      script: (name) => {
        const r = rows(`SELECT replace(source, E'\\n', ' '), description FROM insitu_engine_scripts WHERE name = '${name}'`)[0];
        return r === undefined ? undefined : { source: r[0]!, description: r[1]! };
      },
      objects: (datastore) =>
        rows(`SELECT name, convert_from(data, 'UTF8') FROM insitu_engine_datastore_objects WHERE datastore = '${datastore}' ORDER BY name`).map(([name, data]) => ({
          name: name!,
          data: data!,
        })),
      datastoreCount: (name) => Number(rows(`SELECT count(*) FROM insitu_engine_datastores WHERE name = '${name}'`)[0]![0]),
      close: () => {},
    };
  }
  // SQLite: the file itself, and its own integrity check.
  const db = new Database(location);
  return {
    integrity: () => db.pragma('integrity_check', { simple: true }) as string,
    script: (name) => db.prepare(`SELECT source, description FROM insitu_engine_scripts WHERE name = ?`).get(name) as { source: string; description: string } | undefined,
    objects: (datastore) =>
      (db.prepare(`SELECT name, data FROM insitu_datastore_objects WHERE datastore = ? ORDER BY name`).all(datastore) as { name: string; data: Buffer }[]).map((o) => ({
        name: o.name,
        data: o.data.toString(),
      })),
    datastoreCount: (name) => (db.prepare(`SELECT count(*) AS n FROM insitu_engine_datastores WHERE name = ?`).get(name) as { n: number }).n,
    close: () => db.close(),
  };
}

const WRITER = fileURLToPath(new URL('./fixtures/crash-writer.mjs', import.meta.url));
// On PostgreSQL atomicity is the server's transactions (not a file the writer's process may tear): fewer trials.
const TRIALS = Number(process.env['INSITU_CRASH_TRIALS'] ?? (ON_POSTGRES ? 8 : 20));

/** Start the writer, let it run for `ms` after it is ready, then kill -9 it. */
function runAndKill(db: string, ms: number, start: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, db, String(start)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += String(d)));
    child.stdout.on('data', (d) => {
      if (String(d).includes('ready')) setTimeout(() => child.kill('SIGKILL'), ms);
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`writer exited ${code}: ${err}`))));
  });
}

describe('crash safety', () => {
  it(`keeps every script and datastore wholly old or wholly new across ${TRIALS} kill -9s mid-write`, async () => {
    const tmp = tempDatabase();
    try {
      for (let trial = 0; trial < TRIALS; trial++) {
        await runAndKill(tmp.path, Math.floor(Math.random() * 120), trial * 100_000);
        const db = engineTables(tmp.path);
        try {
          if (!ON_POSTGRES) expect(db.integrity(), `trial ${trial}`).toBe('ok');
          for (const name of ['victim', 'dropped']) {
            const row = db.script(name);
            if (row === undefined) {
              expect(name, `trial ${trial}: only 'dropped' may be missing`).toBe('dropped');
              continue;
            }
            const version = /return (\d+)/.exec(row.source)![1];
            if (name === 'victim') expect(Number(version), `trial ${trial}: this trial's writer wrote`).toBeGreaterThanOrEqual(trial * 100_000);
            expect(row.description, `trial ${trial}: ${name} source and description from one write`).toBe(`v${version}`);
          }
          const bag = db.objects('bag');
          expect(bag.map((o) => o.name), `trial ${trial}`).toEqual(['a', 'b', 'c']);
          const [a, b, c] = bag.map((o) => JSON.parse(o.data) as number | number[]);
          expect(b).toBe(a);
          expect(new Set(c as number[])).toEqual(new Set([a]));
          const gone = db.objects('gone');
          expect([0, 2], `trial ${trial}: 'gone' is absent or whole`).toContain(gone.length);
          expect(db.datastoreCount('gone'), `trial ${trial}: 'gone' header matches its objects`).toBe(gone.length === 0 ? 0 : 1);
        } finally {
          db.close();
        }
      }
      // The engine opens the survivor normally and keeps working on it.
      const engine = await createEngine({ database: tmp.path, workers: 1 });
      try {
        const s = engine.session({ user: 'crash' });
        const v = (await s.doEval('victim')).value as number;
        expect((await s.scripts.load('victim')).description).toBe(`v${v}`);
      } finally {
        await engine.close();
      }
    } finally {
      tmp.cleanup();
    }
  }, 240_000);
});
