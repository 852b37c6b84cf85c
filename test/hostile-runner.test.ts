// A UDF may rewrite the insitu package inside its own interpreter — even the functions its worker
// holds — and hold on to what the engine lends it (workers, the database connection). None of that may
// reach another user: these attacks (found by a red-team pass) each target alice from mallory's calls.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session } from 'insitu';
import { tempDatabase } from './helpers.js';

let engine: Engine;
const logs: string[] = [];
let mallory: Session;
let alice: Session;
const db = tempDatabase();

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2, maxResultBytesInFlight: 1 << 20, onRuntimeLog: (e) => logs.push(e.message) });
  mallory = engine.session({ user: 'mallory' });
  alice = engine.session({ user: 'alice' });
  await alice.create('LEDGER', [{ n: 0 }]);
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

describe("a UDF that rewrites its interpreter's insitu package", () => {
  it("cannot make the pool terminate another user's worker through a forged reply", async () => {
    // The patched inspect answers every script check with a thread id and the flags that steer the pool.
    const patch = () =>
      mallory.doEval({
        source: `
import insitu._runner as r
def f():
    src = "def inspect(source, name):\\n    return {'ok': True, 'functions': [name], 'threadId': int(name[1:]), 'replace': True, 'fatal': True, 'retry': True}\\n"
    ns = {}
    exec(src, r.__dict__, ns)
    r.inspect.__code__ = ns["inspect"].__code__
    return "patched"`,
      });
    const started = Date.now();
    const aliceCall = alice.doEval(
      { source: 'import insitu, time\ndef g():\n    insitu.connect().execute("INSERT INTO LEDGER VALUES (1)", [])\n    time.sleep(1.5)\n    return "done"' },
      { context: 'write' },
    );
    await new Promise((r) => setTimeout(r, 500));
    for (let id = 1; id <= 8; id++) {
      await patch();
      await mallory.scripts.create(`k${id}`, `def k${id}():\n    return 1`, { overwrite: true });
    }
    expect((await aliceCall).value).toBe('done');
    // Her UDF ran exactly once: it was never killed and re-run.
    expect(await alice.table('LEDGER').count()).toBe(2);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("cannot switch off the engine's result budget or the output cap with a forged stdout", async () => {
    const eve = engine.session({ user: 'eve' });
    const big = { source: 'def g():\n    return "x" * (3 * 2**20)' };
    await expect(alice.doEval(big)).rejects.toMatchObject({ code: 'RESULT_TOO_LARGE' });
    // stdout that is not text (it made the budget's byte count NaN, which no limit ever exceeds)...
    const poisoned = await eve.doEval({
      source: 'import insitu._capture as c\ndef f():\n    c.CappedOutput.getvalue = lambda self: {"not": "text"}\n    print("hello")\n    return 1',
    });
    expect(poisoned.stdout).toBe('');
    await expect(alice.doEval(big)).rejects.toMatchObject({ code: 'RESULT_TOO_LARGE' });
    // ...and stdout far past the cap: the worker cuts it to maxOutputBytes whatever Python claims, and
    // here even that is more than this engine's 1 MiB budget, so the call fails and holds nothing.
    await expect(
      eve.doEval({ source: 'import insitu._capture as c\ndef f():\n    c.CappedOutput.getvalue = lambda self: "y" * (64 * 2**20)\n    return 1' }),
    ).rejects.toMatchObject({ code: 'RESULT_TOO_LARGE' });
    expect(engine.resultBudget.inFlight).toBe(0);
    expect((await alice.doEval({ source: 'def g():\n    print("hi")\n    return 2' })).stdout).toBe('hi\n');
  });
});

describe("a UDF that holds on to what the engine lends it", () => {
  it('cannot keep the database locked after its call', async () => {
    const trudy = engine.session({ user: 'trudy' });
    // Transaction control is refused outright; whatever a call leaves open anyway is rolled back after it.
    for (const sql of ['BEGIN IMMEDIATE', '/* */ begin exclusive', 'SAVEPOINT s']) {
      const r = await trudy
        .doEval({ source: 'import insitu\ndef f(sql):\n    insitu.connect().execute(sql, [])\n    return "locked"' }, { args: { sql }, context: 'write' })
        .then(
          (x) => x.value,
          (e: { code: string }) => e.code,
        );
      expect(r, sql).toBe('PRIVILEGE');
    }
    const t0 = Date.now();
    await alice.create('B', [{ y: 2 }], { overwrite: true });
    await alice.datastores.save('ds1', { a: 1 }, { overwrite: true });
    await alice.doEval({ source: 'import insitu\ndef g():\n    return insitu.connect().execute("INSERT INTO B VALUES (3)", [])' }, { context: 'write' });
    expect(await alice.table('B').count()).toBe(2);
    // Well under the 5 s busy timeout a held lock would cost each write.
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it("cannot starve another user's call with a stream of its own", async () => {
    const work = { source: 'import time\ndef f():\n    time.sleep(0.05)\n    return 1' };
    const oscar = engine.session({ user: 'oscar' });
    let stop = false;
    let calls = 0;
    const stream = async () => {
      while (!stop) {
        await oscar.doEval(work);
        calls++;
      }
    };
    const streams = Array.from({ length: 4 }, stream); // more streams than workers: always a queue
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const value = await Promise.race([
      alice.doEval({ source: 'def g():\n    return "served"' }).then((r) => r.value),
      new Promise((r) => setTimeout(() => r('still waiting'), 8000)),
    ]);
    const waited = Date.now() - t0;
    stop = true;
    await Promise.all(streams);
    expect(value).toBe('served');
    expect(waited).toBeLessThan(5000);
    expect(calls).toBeGreaterThan(0);
  });

  it('cannot keep a worker or the write lock past its timeout with a statement no interrupt reaches', async () => {
    const victor = engine.session({ user: 'victor' });
    await victor.create('SINK', [{ x: 1 }]);
    await victor.doEval({ source: 'def f():\n    return 1' }); // his worker is up: the timeout below is spent in SQLite
    // One INSERT ... SELECT over a recursive CTE: minutes inside SQLite, holding the write lock, where
    // neither Python's interrupt nor terminating the worker thread reaches it.
    const stuck = await victor
      .doEval(
        {
          source:
            'import insitu\ndef f():\n    return insitu.connect().execute("INSERT INTO SINK SELECT x FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 3000000000) SELECT x FROM c) WHERE x < 0")',
        },
        { context: 'write', timeoutMs: 1500 },
      )
      .then(
        () => 'finished',
        (e: { code: string }) => e.code,
      );
    expect(stuck).toBe('TIMEOUT');
    // The worker does not exit: the engine is told, and the sandbox process holding it is retired...
    for (let i = 0; i < 100 && !logs.some((m) => m.includes('stayed in native code')); i++) await new Promise((r) => setTimeout(r, 100));
    expect(logs.some((m) => m.includes('stayed in native code'))).toBe(true);
    // ...so others are served, and can write, within seconds.
    const t0 = Date.now();
    expect((await alice.doEval({ source: 'def g():\n    return "served"' }, { timeoutMs: 20_000 })).value).toBe('served');
    await alice.create('AFTER', [{ y: 1 }], { overwrite: true });
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});
