import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
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
      // Marking it used must not make the next start see it as changed (it was rebuilt every other start).
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

describe('start-up snapshot integrity', () => {
  it('holds no host path or environment variable of the engine', async () => {
    const tmp = tempDatabase();
    process.env['INSITU_SNAPSHOT_CANARY'] = 'canary-4711-do-not-bake';
    try {
      const dir = join(tmp.dir, 'snapshots');
      const engine = await createEngine({ database: ':memory:', workers: 1, snapshotDir: dir });
      await engine.close();
      const [file] = snapshots(dir);
      const bytes = readFileSync(join(dir, file!)).toString('latin1');
      for (const needle of ['canary-4711', process.cwd(), tmp.dir]) {
        expect(bytes.includes(needle), `the snapshot contains ${needle}`).toBe(false);
      }
    } finally {
      delete process.env['INSITU_SNAPSHOT_CANARY'];
      tmp.cleanup();
    }
  });

  it('is not restored when its bytes do not match the hash the engine recorded', async () => {
    const tmp = tempDatabase();
    const dir = join(tmp.dir, 'snapshots');
    const version = async () => {
      const engine = await createEngine({ database: ':memory:', workers: 1, snapshotDir: dir });
      try {
        return (await engine.session().doEval({ source: 'import insitu\ndef f():\n    return insitu.__doc__.split("\\n")[0]' })).value;
      } finally {
        await engine.close();
      }
    };
    try {
      const doc = 'The ``insitu`` module that every user-defined function can import.';
      expect(await version()).toBe(doc);
      // Plant another docstring in the interpreter's memory image.
      const path = join(dir, snapshots(dir)[0]!);
      const bytes = readFileSync(path);
      let planted = 0;
      for (let i = bytes.indexOf('that every user-defined'); i >= 0; i = bytes.indexOf('that every user-defined', i + 1)) planted++;
      const text = bytes.toString('latin1').replaceAll('that every user-defined', 'that EVERY user-defined');
      const fd = openSync(path, 'r+');
      writeSync(fd, Buffer.from(text, 'latin1'), 0, bytes.length, 0);
      closeSync(fd);
      // A change the engine's stat check would not see (same inode and size; the record's time made to
      // match, as a tamperer preserving the time to the nanosecond would): only the bytes' hash tells.
      const record = JSON.parse(readFileSync(`${path}.json`, 'utf8')) as { ino: number; size: number; mtimeMs: number };
      writeFileSync(`${path}.json`, JSON.stringify({ ...record, mtimeMs: statSync(path).mtimeMs }));
      expect([statSync(path).ino, statSync(path).size]).toEqual([record.ino, record.size]);
      expect(planted).toBeGreaterThan(0);
      expect(await version()).toBe(doc);
    } finally {
      tmp.cleanup();
    }
  });
});

describe('interpreters restored from the start-up snapshot', () => {
  it("draw their own random numbers (random is seeded afresh, not the snapshot's state)", async () => {
    const engine = await createEngine({ database: ':memory:', workers: 2 });
    try {
      const src = 'import random\ndef f(i):\n    return random.random()';
      const drawn: number[] = [];
      for (const user of ['alice', 'bob']) {
        const r = await engine.session({ user }).indexApply(2, { source: src }, { parallel: true });
        drawn.push(...(r.value as number[]));
      }
      expect(new Set(drawn).size).toBe(drawn.length);
    } finally {
      await engine.close();
    }
  });
});
