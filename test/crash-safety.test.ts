import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createEngine } from 'insitu';
import { tempDatabase } from './helpers.js';

const WRITER = fileURLToPath(new URL('./fixtures/crash-writer.mjs', import.meta.url));
const TRIALS = Number(process.env['INSITU_CRASH_TRIALS'] ?? 20);

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
        const db = new Database(tmp.path);
        try {
          expect(db.pragma('integrity_check', { simple: true }), `trial ${trial}`).toBe('ok');
          for (const name of ['victim', 'dropped']) {
            const row = db.prepare(`SELECT source, description FROM insitu_engine_scripts WHERE name = ?`).get(name) as
              | { source: string; description: string }
              | undefined;
            if (row === undefined) {
              expect(name, `trial ${trial}: only 'dropped' may be missing`).toBe('dropped');
              continue;
            }
            const version = /return (\d+)/.exec(row.source)![1];
            if (name === 'victim') expect(Number(version), `trial ${trial}: this trial's writer wrote`).toBeGreaterThanOrEqual(trial * 100_000);
            expect(row.description, `trial ${trial}: ${name} source and description from one write`).toBe(`v${version}`);
          }
          const bag = db.prepare(`SELECT name, data FROM insitu_datastore_objects WHERE datastore = 'bag' ORDER BY name`).all() as { name: string; data: Buffer }[];
          expect(bag.map((o) => o.name), `trial ${trial}`).toEqual(['a', 'b', 'c']);
          const [a, b, c] = bag.map((o) => JSON.parse(o.data.toString()) as number | number[]);
          expect(b).toBe(a);
          expect(new Set(c as number[])).toEqual(new Set([a]));
          const gone = db.prepare(`SELECT name FROM insitu_datastore_objects WHERE datastore = 'gone' ORDER BY name`).all() as { name: string }[];
          expect([0, 2], `trial ${trial}: 'gone' is absent or whole`).toContain(gone.length);
          const header = db.prepare(`SELECT count(*) AS n FROM insitu_engine_datastores WHERE name = 'gone'`).get() as { n: number };
          expect(header.n, `trial ${trial}: 'gone' header matches its objects`).toBe(gone.length === 0 ? 0 : 1);
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
