import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session } from 'insitu';
import { ON_POSTGRES, pgColumn } from './backend.js';
import { rejectsWith, tempDatabase } from './helpers.js';

let engine: Engine;
let me: Session;
const db = tempDatabase();

/** Overwrite the stored bytes of one datastore object beside the engine, as a damaged disk or a careless administrator would. */
function corruptObject(datastore: string, name: string, hex: string): void {
  if (ON_POSTGRES) {
    pgColumn(db.path, `UPDATE insitu_engine_datastore_objects SET data = '\\x${hex}'::bytea WHERE datastore = '${datastore}' AND name = '${name}'`);
    return;
  }
  const raw = new Database(db.path);
  raw.prepare(`UPDATE insitu_datastore_objects SET data = x'${hex}' WHERE datastore = ? AND name = ?`).run(datastore, name);
  raw.close();
}

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 1 });
  me = engine.session({ user: 'hostile' });
  await me.create('SAFE', [{ a: 1 }, { a: 2 }]);
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

const stillServing = async () => {
  expect(await me.table('SAFE').count()).toBe(2);
  expect((await me.doEval({ source: 'def f():\n    return "ok"' })).value).toBe('ok');
};

describe('hostile and malformed input', () => {
  it('refuses hostile identifiers everywhere with BAD_INPUT and changes nothing', async () => {
    const names = ['SAFE"; DROP TABLE SAFE; --', 'a;b', 'nul\u0000name', 'x'.repeat(10_000), '\ud800lonely', 'ünïcode', 'two words', '', '1a'];
    for (const name of names) {
      await rejectsWith(() => me.table(name), 'BAD_INPUT');
      await rejectsWith(me.create(name, [{ a: 1 }]), 'BAD_INPUT');
      await rejectsWith(me.scripts.create(name, 'def f():\n    return 1'), 'BAD_INPUT');
      await rejectsWith(me.datastores.save(name, { a: 1 }), 'BAD_INPUT');
      await rejectsWith(me.datastores.save('ds_ok', { [name]: 1 }), 'BAD_INPUT');
      await rejectsWith(me.groupApply(me.table('SAFE'), [name], { source: 'def f(d):\n    return 1' }), 'BAD_INPUT');
    }
    // Column names are as free as pandas makes them: only empty, NUL, lone surrogates and very long
    // ones are refused; the others are quoted, never interpolated, so the hostile ones are just names.
    for (const name of ['nul\u0000name', 'x'.repeat(10_000), '\ud800lonely', '']) {
      await rejectsWith(me.create('OK_T', [{ [name]: 1 }]), 'BAD_INPUT');
      await rejectsWith(() => me.table('SAFE').select([name]), 'BAD_INPUT');
    }
    for (const name of ['SAFE"; DROP TABLE SAFE; --', 'a;b', 'ünïcode', 'two words', '1a']) {
      const t = await me.create('OK_T', [{ [name]: 1 }], { overwrite: true });
      expect(await t.select([name]).columns()).toEqual([name]);
    }
    await me.create('OK_T', [{ a: 1 }], { overwrite: true });
    expect(await me.scripts.list()).toEqual([]);
    expect(await me.datastores.list()).toEqual([]);
    await stillServing();
  });

  it('refuses wrong argument types through the public API', async () => {
    await rejectsWith(me.rowApply(me.table('SAFE'), 42 as never), 'BAD_INPUT');
    await rejectsWith(me.rowApply(me.table('SAFE'), { source: 'def f(d):\n    return 1' }, { rows: 'ten' as never }), 'BAD_INPUT');
    await rejectsWith(me.rowApply(me.table('SAFE'), { source: 'def f(d):\n    return 1' }, { parallel: 'yes' as never }), 'BAD_INPUT');
    await rejectsWith(me.doEval({ source: 'def f():\n    return 1' }, { args: 'a=1' as never }), 'BAD_INPUT');
    await rejectsWith(me.doEval({ source: 'def f():\n    return 1' }, { timeoutMs: -5 }), 'BAD_INPUT');
    await rejectsWith(me.indexApply(1.5, { source: 'def f(i):\n    return i' }), 'BAD_INPUT');
    await rejectsWith(me.create('BAD_ROWS', 'not rows' as never), 'BAD_INPUT');
    await rejectsWith(me.create('BAD_ROWS', [{ a: { nested: true } as never }]), 'BAD_INPUT');
    await rejectsWith(me.scripts.create('s1', 42 as never), 'BAD_INPUT');
    await rejectsWith(() => me.query('select 1', 'x' as never).pull(), 'BAD_INPUT');
    await rejectsWith(me.query('select ?', [{} as never]).pull(), 'BAD_INPUT');
    await rejectsWith(me.grant({ script: 'x' } as never), 'BAD_INPUT');
    await rejectsWith(me.datastores.load('ds', { objs: 'a' as never }), 'BAD_INPUT');
    expect(await me.table('BAD_ROWS').count().catch((e: { code: string }) => e.code)).toBe('TABLE_NOT_FOUND');
    await stillServing();
  });

  it('survives a corrupted pickle in a datastore: the loading call fails, nothing else does', async () => {
    await me.doEval({ source: 'import insitu\nclass M:\n    pass\ndef f():\n    insitu.ds.save({"m": M(), "n": 1}, "pick")' });
    corruptObject('pick', 'm', '8005deadbeef');
    const e = await rejectsWith(me.doEval({ source: 'import insitu\ndef f():\n    return insitu.ds.load("pick")' }), 'PYTHON_ERROR');
    expect(e.pythonType).toMatch(/Unpickling|EOF|Error/);
    expect((await me.doEval({ source: 'import insitu\ndef f():\n    return insitu.ds.load("pick", objs=["n"])' })).value).toEqual({ n: 1 });
    await stillServing();
  });

  it('survives corrupted Arrow bytes in a datastore: loads of that object fail with a typed error, nothing else does', async () => {
    await me.datastores.save('frames', { t: (await me.table('SAFE').pull()), n: 2 });
    corruptObject('frames', 't', 'ffffffff7800000010000000');
    const host = await rejectsWith(me.datastores.load('frames'), 'STORAGE_ERROR');
    expect(host.message).toMatch(/frames.*\bt\b|\bt\b.*frames/);
    const inUdf = await rejectsWith(me.doEval({ source: 'import insitu\ndef f():\n    return insitu.ds.load("frames")' }), 'STORAGE_ERROR');
    expect(inUdf.message).toMatch(/frames/);
    expect(await me.datastores.load('frames', { objs: ['n'] })).toEqual({ n: 2 });
    corruptObject('frames', 'n', '7b2261223a');
    await rejectsWith(me.datastores.load('frames', { objs: ['n'] }), 'STORAGE_ERROR');
    await stillServing();
  });

  it('handles huge outputs and non-serialisable results with typed errors', async () => {
    const big = await me.doEval({ source: 'def f():\n    return {"i": list(range(2_000_000))}' });
    expect((big.value as { numRows: number }).numRows).toBe(2_000_000);
    // Past the default maxOutputBytes (4 MiB) stdout is cut, with a marker line (see limits.test.ts).
    const printed = await me.doEval({ source: 'def f():\n    print("x" * 5_000_000)\n    return 1' });
    expect(printed.stdout.startsWith(`${'x'.repeat(4 * 2 ** 20)}\n[insitu: stdout truncated: ${5_000_001 - 4 * 2 ** 20} more bytes dropped`)).toBe(true);
    await rejectsWith(me.doEval({ source: 'def f():\n    return {1, 2}.__iter__()' }), 'BAD_RESULT');
    await rejectsWith(me.doEval({ source: 'def f():\n    a = []\n    a.append(a)\n    return a' }), 'BAD_RESULT');
    await rejectsWith(me.doEval({ source: 'def f():\n    return {"a": [2**70]}' }), 'BAD_RESULT');
    await stillServing();
  });

  it('refuses a result over the default maxResultBytes (256 MiB) before it leaves Python', async () => {
    const e = await rejectsWith(me.doEval({ source: 'def f():\n    return b"x" * (256 * 2**20 + 1)' }), 'RESULT_TOO_LARGE');
    expect(e.message).toContain('bytes of length 268435457 bytes (256.0 MiB)');
    expect(e.message).toContain('maxResultBytes, 268435456 bytes (256 MiB)');
    expect(engine.resultBudget.limit).toBe(2 ** 30);
    await stillServing();
  });

  it('answers circular and absurdly deep values with BAD_INPUT, not a stack overflow', async () => {
    const loop: Record<string, unknown> = { a: 1 };
    loop['me'] = loop;
    const e = await rejectsWith(me.datastores.save('loop', { loop }), 'BAD_INPUT');
    expect(e.message).toContain('loop.me (a circular reference)');
    await rejectsWith(me.doEval({ source: 'def f(x):\n    return 1' }, { args: { x: loop as never } }), 'BAD_INPUT');
    let deep: unknown = 0;
    for (let i = 0; i < 20_000; i++) deep = { d: deep };
    await rejectsWith(me.doEval({ source: 'def f(x):\n    return 1' }, { args: { x: deep as never } }), 'BAD_INPUT');
    await rejectsWith(me.datastores.save('deep', { deep }), 'BAD_INPUT');
    await stillServing();
  });
});
