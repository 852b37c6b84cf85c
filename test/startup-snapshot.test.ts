import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEngine } from 'insitu';
import { tempDatabase } from './helpers.js';

const snapshots = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.snapshot'));

describe('start-up snapshot', () => {
  it('is made on the first start, used by later starts, and replaced when it is unreadable', async () => {
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
    try {
      expect(await run()).toEqual(['0.1.0', 3]);
      const [file] = snapshots(dir);
      expect(file).toMatch(/^pyodide-314\.0\.7-[0-9a-f]{16}\.snapshot$/);
      const made = statSync(join(dir, file!)).mtimeMs;
      expect(await run()).toEqual(['0.1.0', 3]);
      expect(statSync(join(dir, file!)).mtimeMs).toBe(made);

      writeFileSync(join(dir, file!), new Uint8Array(1024).fill(7));
      expect(await run()).toEqual(['0.1.0', 3]);
      expect(snapshots(dir)).toEqual([file]);
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
