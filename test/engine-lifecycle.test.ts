import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createEngine } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

describe('engine lifecycle', () => {
  it('leaves no worker or file handle behind after close(), across repeated engines in one process', () => {
    const db = tempDatabase();
    try {
      const script = fileURLToPath(new URL('./fixtures/reuse-engines.mjs', import.meta.url));
      const child = spawnSync(process.execPath, [script, db.path], { encoding: 'utf8', timeout: 60_000 });
      expect(child.error, 'the process did not exit on its own').toBeUndefined();
      expect(child.status, child.stderr).toBe(0);
      const out = JSON.parse(child.stdout.trim().split('\n').pop()!);
      expect(out.results).toEqual([10, 20, 30]);
      expect(out.fdsAfterLast).toBe(out.fdsAfterFirst);
    } finally {
      db.cleanup();
    }
  });

  it('can be created, used and closed repeatedly in one process; a closed engine refuses calls', async () => {
    const db = tempDatabase();
    try {
      for (let round = 1; round <= 3; round++) {
        const engine = await createEngine({ database: db.path, workers: 2 });
        const s = engine.session();
        expect(s.user).toBe('default');
        const r = await s.indexApply(4, { source: 'def f(i, round):\n    return i * round' }, { parallel: true, args: { round } });
        expect(r.value).toEqual([1, 2, 3, 4].map((i) => i * round));
        await engine.close();
        await engine.close(); // idempotent
        expect(engine.closed).toBe(true);
        await rejectsWith(() => s.doEval({ source: 'def f():\n    return 1' }), 'CLOSED');
        await rejectsWith(() => engine.session(), 'CLOSED');
      }
    } finally {
      db.cleanup();
    }
  });

  it('supports `await using` and :memory: databases', async () => {
    let seen: unknown;
    {
      await using engine = await createEngine({ database: ':memory:', workers: 1 });
      const s = engine.session({ user: 'mem' });
      const t = await s.create('M', [{ a: 1 }, { a: 2 }]);
      seen = (await s.tableApply(t, { source: 'def f(df):\n    return sum(df["a"])' })).value;
      // The SQL functions run on a second engine over the same file, which :memory: cannot share.
      const e = await rejectsWith(s.sql.register(), 'BAD_INPUT');
      expect(e.message).toMatch(/need a database file/);
    }
    expect(seen).toBe(3);
  });

  it('refuses bad options', async () => {
    await rejectsWith(createEngine({ database: ':memory:', workers: 0 }), 'BAD_INPUT');
    const engine = await createEngine({ database: ':memory:', workers: 1 });
    try {
      await rejectsWith(() => engine.session({ user: '' }), 'BAD_INPUT');
    } finally {
      await engine.close();
    }
  });
});
