import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEngine, type Engine, type RuntimeLogEntry, type Session } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

let engine: Engine;
let me: Session;
const db = tempDatabase();
/** What the runtime printed (the crash test expects Pyodide's fatal-error report here, not on stderr). */
const runtimeLog: RuntimeLogEntry[] = [];

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2, interruptGraceMs: 300, onRuntimeLog: (e) => runtimeLog.push(e) });
  me = engine.session({ user: 'rel' });
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

const FOREVER = 'def f(*args, **kw):\n    n = 0\n    while True:\n        n += 1';
const ok = () => me.doEval({ source: 'def f():\n    return "still serving"' });

describe('timeouts and cancellation', () => {
  it('interrupts a runaway pure-Python loop with TIMEOUT and keeps the worker', async () => {
    const started = Date.now();
    const e = await rejectsWith(me.doEval({ source: FOREVER }, { timeoutMs: 200 }), 'TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(e.message).toMatch(/200 ms/);
    expect((await ok()).value).toBe('still serving');
  });

  it('interrupts time.sleep too, and keeps serving', async () => {
    const started = Date.now();
    await rejectsWith(me.doEval({ source: 'import time\ndef f():\n    time.sleep(30)' }, { timeoutMs: 200 }), 'TIMEOUT');
    expect(Date.now() - started).toBeLessThan(10_000);
    const after = await me.indexApply(4, { source: 'def f(i):\n    return i' }, { parallel: true });
    expect(after.value).toEqual([1, 2, 3, 4]);
  });

  it('terminates and replaces the worker of a UDF that swallows the interrupt, after the grace period', async () => {
    const stubborn = 'def f():\n    while True:\n        try:\n            while True:\n                pass\n        except BaseException:\n            pass';
    const started = Date.now();
    await rejectsWith(me.doEval({ source: stubborn }, { timeoutMs: 200 }), 'TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(200 + 300 - 20);
    const after = await me.indexApply(4, { source: 'def f(i):\n    return -i' }, { parallel: true });
    expect(after.value).toEqual([-1, -2, -3, -4]);
  });

  it('applies the engine default timeout to every call', async () => {
    const strict = await createEngine({ database: ':memory:', workers: 1, timeoutMs: 250 });
    try {
      await rejectsWith(strict.session().doEval({ source: FOREVER }), 'TIMEOUT');
      expect((await strict.session().doEval({ source: 'def f():\n    return 1' }, { timeoutMs: 0 })).value).toBe(1);
    } finally {
      await strict.close();
    }
  });

  it('cancels through an AbortSignal: partitions that have not started never start', async () => {
    await me.create('LOG', [{ i: 0 }], { overwrite: true });
    const slow = 'import insitu, time\ndef f(i):\n    insitu.connect().execute("insert into LOG values (?)", [i])\n    t = time.time() + 0.15\n    while time.time() < t:\n        pass\n    return i';
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 400);
    const started = Date.now();
    await rejectsWith(me.indexApply(40, { source: slow }, { signal: ac.signal, context: 'write' }), 'CANCELLED');
    expect(Date.now() - started).toBeLessThan(3000);
    const ran = (await me.table('LOG').count()) - 1;
    expect(ran).toBeGreaterThanOrEqual(1);
    expect(ran).toBeLessThanOrEqual(5);
    await new Promise((r) => setTimeout(r, 500));
    expect((await me.table('LOG').count()) - 1).toBe(ran);
    await rejectsWith(me.doEval({ source: 'def f():\n    return 1' }, { signal: AbortSignal.abort() }), 'CANCELLED');
  });

  it('keeps serving other calls while one call loops until its timeout', async () => {
    const runaway = me.doEval({ source: FOREVER }, { timeoutMs: 1500 });
    const others = await Promise.all(Array.from({ length: 10 }, (_, i) => me.doEval({ source: 'def f(i):\n    return i * 2' }, { args: { i } })));
    expect(others.map((r) => r.value)).toEqual(Array.from({ length: 10 }, (_, i) => i * 2));
    await rejectsWith(runaway, 'TIMEOUT');
  });
});

describe('crashes', () => {
  it('fails only the call whose interpreter crashed, replaces the worker and keeps serving', async () => {
    // Reading outside wasm memory is a fatal interpreter error: that Pyodide instance is unusable.
    const crash = 'import ctypes\ndef f():\n    return ctypes.string_at(0xFFFFFF00, 1000)';
    const e = await rejectsWith(me.doEval({ source: crash }), 'RUNTIME_ERROR');
    expect(e.message).toMatch(/crashed/);
    // Pyodide's own report of the crash reached the engine's runtime log, from the worker that crashed.
    await vi.waitFor(() => {
      const report = runtimeLog.find((l) => l.message.includes('Pyodide has suffered a fatal error'));
      expect(report).toMatchObject({ source: 'worker', level: 'error' });
      expect(runtimeLog.some((l) => l.threadId === report?.threadId && l.message.includes('memory access out of bounds'))).toBe(true);
    }, { timeout: 5000 });
    const t = await me.create('AFTER_CRASH', [{ a: 1 }, { a: 2 }, { a: 3 }], { overwrite: true });
    expect((await me.rowApply(t, { source: 'def f(df):\n    return df["a"][0]' }, { parallel: true })).value).toEqual([1, 2, 3]);
    const after = await me.indexApply(6, { source: 'def f(i):\n    return i + 1' }, { parallel: true });
    expect(after.value).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('turns deep recursion under the normal limit into a RecursionError', async () => {
    const e = await rejectsWith(me.doEval({ source: 'def f():\n    def r(n):\n        return r(n + 1)\n    return r(0)' }), 'PYTHON_ERROR');
    expect(e.pythonType).toBe('RecursionError');
  });
});

describe('memory', () => {
  it('replaces a worker whose heap grew past recycleHeapMb after the call, and keeps others', async () => {
    const small = await createEngine({ database: ':memory:', workers: 1, recycleHeapMb: 200 });
    try {
      const s = small.session();
      const mark = 'import sys\ndef f(grow=0):\n    seen = getattr(sys, "_insitu_test_mark", None)\n    sys._insitu_test_mark = 1\n    if grow:\n        b = bytearray(grow * 2**20)\n        del b\n    return seen';
      expect((await s.doEval({ source: mark })).value).toBeNull();
      // Same interpreter: the mark survives between calls while the heap stays small.
      expect((await s.doEval({ source: mark })).value).toBe(1);
      expect((await s.doEval({ source: mark }, { args: { grow: 300 } })).value).toBe(1);
      // That call grew the heap past 200 MiB: the next call runs in a fresh interpreter.
      expect((await s.doEval({ source: mark })).value).toBeNull();
    } finally {
      await small.close();
    }
  });

  it('reports an allocation past the default cap as a MemoryError', async () => {
    const e = await rejectsWith(me.doEval({ source: 'def f():\n    return len(bytearray(2040 * 2**20))' }), 'PYTHON_ERROR');
    expect(e.pythonType).toBe('MemoryError');
    expect((await ok()).value).toBe('still serving');
  });

  it.each(['process', 'thread'] as const)('caps each worker at maxMemoryMb (%s isolation): MemoryError in that UDF, other calls unaffected', async (isolation) => {
    const capped = await createEngine({ database: ':memory:', workers: 2, maxMemoryMb: 256, isolation });
    try {
      const s = capped.session();
      // Holds 10 MB blocks until the interpreter refuses one, then reports how many it got.
      const fill = 'def f():\n    held = []\n    try:\n        while True:\n            held.append(bytearray(10_000_000))\n    except MemoryError:\n        return len(held)';
      const got = (await s.doEval({ source: fill })).value as number;
      expect(got).toBeGreaterThan(15); // ~30 MB is the interpreter itself
      expect(got).toBeLessThan(26); // 256 MiB = 268 MB
      const hog = 'def f():\n    return len(bytearray(300 * 2**20))';
      const small = 'def f(i):\n    return sum(range(i * 1000))';
      const [big, others] = await Promise.allSettled([s.doEval({ source: hog }), s.indexApply(8, { source: small }, { parallel: true })]);
      expect(big.status).toBe('rejected');
      expect((big as PromiseRejectedResult).reason).toMatchObject({ code: 'PYTHON_ERROR', pythonType: 'MemoryError' });
      expect(others.status === 'fulfilled' && others.value.value).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((i) => (i * 1000 * (i * 1000 - 1)) / 2));
      expect((await s.doEval({ source: 'def f():\n    return len(bytearray(100 * 2**20))' })).value).toBe(100 * 2 ** 20);
    } finally {
      await capped.close();
    }
  });

  it('refuses a memory cap it cannot honour, naming the option', async () => {
    for (const maxMemoryMb of [64, 5000, 1.5]) {
      const e = await rejectsWith(createEngine({ database: ':memory:', workers: 1, maxMemoryMb }), 'BAD_INPUT');
      expect(e.message).toMatch(/maxMemoryMb must be an integer from 128 to 4095/);
    }
  });
});

describe('load', () => {
  it('completes 200 concurrent calls from several users with the right results and no crossed stdout', async () => {
    const users = ['u1', 'u2', 'u3', 'u4'].map((user) => engine.session({ user }));
    const src = 'def f(tag, n):\n    print(tag)\n    return {"tag": tag, "sq": n * n}';
    const calls = Array.from({ length: 200 }, (_, i) => {
      const s = users[i % users.length]!;
      const tag = `${s.user}-${i}`;
      return s.doEval({ source: src }, { args: { tag, n: i } }).then((r) => ({ r, tag, i }));
    });
    for (const { r, tag, i } of await Promise.all(calls)) {
      expect(r.value).toEqual({ tag, sq: i * i });
      expect(r.stdout).toBe(`${tag}\n`);
    }
    // Not a timed test: 200 calls of 4 users switch workers between users (each switch boots one), which
    // takes 20-60 s on a loaded 2-core machine; the limit only guards against a hang.
  }, 180_000);
});
