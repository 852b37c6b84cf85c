import { mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEngine } from 'insitu';
import { tempDatabase } from './helpers.js';

const snapshots = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.snapshot'));

describe('start-up snapshot', () => {
  it('is made on the first start, used by later starts, replaced when it is unreadable; stale ones are removed', async () => {
    const tmp = tempDatabase();
    const dir = join(tmp.dir, 'snapshots');
    const run = async () => {
      const engine = await createEngine({ database: ':memory:', workers: 1, snapshotDir: dir });
      try {
        const r = await engine.session().doEval({ source: 'import insitu, sys\ndef f():\n    return [insitu.__version__, sys.version_info[0]]' });
        return r.value;
      } finally {
        await engine.close();
      }
    };
    // Left by other versions: one unused for a month (removed when a snapshot is written), one used today (kept).
    mkdirSync(dir, { recursive: true });
    const monthAgo = new Date(Date.now() - 30 * 24 * 3600 * 1000);
    writeFileSync(join(dir, 'pyodide-0.0.1-aaaaaaaaaaaaaaaa.snapshot'), 'old');
    utimesSync(join(dir, 'pyodide-0.0.1-aaaaaaaaaaaaaaaa.snapshot'), monthAgo, monthAgo);
    writeFileSync(join(dir, 'pyodide-0.0.2-bbbbbbbbbbbbbbbb.snapshot'), 'in use elsewhere');
    utimesSync(join(dir, 'pyodide-0.0.2-bbbbbbbbbbbbbbbb.snapshot'), new Date(), monthAgo);
    try {
      expect(await run()).toEqual(['0.1.0', 3]);
      const [file] = snapshots(dir).filter((f) => f.startsWith('pyodide-314'));
      expect(file).toMatch(/^pyodide-314\.0\.7-[0-9a-f]{16}\.snapshot$/);
      expect(snapshots(dir).sort()).toEqual(['pyodide-0.0.2-bbbbbbbbbbbbbbbb.snapshot', file]);
      const made = statSync(join(dir, file!)).ino; // a rewrite (write + rename) makes a new file
      expect(await run()).toEqual(['0.1.0', 3]);
      expect(statSync(join(dir, file!)).ino).toBe(made);

      writeFileSync(join(dir, file!), new Uint8Array(1024).fill(7));
      expect(await run()).toEqual(['0.1.0', 3]);
      expect(snapshots(dir).filter((f) => f.startsWith('pyodide-314'))).toEqual([file]);
      expect(readFileSync(join(dir, file!)).byteLength).toBeGreaterThan(1_000_000);
    } finally {
      tmp.cleanup();
    }
  });

  it('can be turned off', async () => {
    const engine = await createEngine({ database: ':memory:', workers: 1, snapshotDir: false });
    try {
      expect((await engine.session().doEval({ source: 'def f():\n    return 7' })).value).toBe(7);
    } finally {
      await engine.close();
    }
  });
});
