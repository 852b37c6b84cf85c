import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session } from 'insitu';
import { rejectsWith } from './helpers.js';

/** Interrupted waits must end long before this: a UDF still waiting then has its worker replaced. */
const GRACE_MS = 5000;
const TIMEOUT_MS = 300;
/** How late after its deadline a timed-out call may end (generous: a loaded 2-core machine). */
const LATE_MS = 1000;

/** Sets or reads a value that lives in the interpreter between calls (until its worker is replaced). */
const MARK = 'import sys\ndef f(set=None):\n    if set is not None:\n        sys._insitu_wait_mark = set\n    return getattr(sys, "_insitu_wait_mark", None)';

/** Ways a UDF waits that a timeout must end, each as the body of `f()`. */
const WAITS: Record<string, string> = {
  'time.sleep': 'import time\n    time.sleep(30)',
  'from time import sleep': 'from time import sleep\n    sleep(30)',
  'import time as t': 'import time as t\n    t.sleep(30)',
  'select.select with a timeout': 'import select\n    select.select([], [], [], 30)',
  'threading.Event().wait(t)': 'import threading\n    threading.Event().wait(30)',
  'threading.Event().wait() without a timeout': 'import threading\n    threading.Event().wait()',
  'queue.Queue().get(timeout=t)': 'import queue\n    queue.Queue().get(timeout=30)',
};

describe.each(['process', 'thread'] as const)('waits a timeout interrupts (%s isolation)', (isolation) => {
  let engine: Engine;
  let me: Session;
  const token = `${isolation}-${Math.random()}`;
  const mark = async () => (await me.doEval({ source: MARK })).value;

  beforeAll(async () => {
    engine = await createEngine({ database: ':memory:', workers: 1, isolation, interruptGraceMs: GRACE_MS });
    me = engine.session({ user: 'sleeper' });
    expect((await me.doEval({ source: MARK }, { args: { set: token } })).value).toBe(token);
  });
  afterAll(async () => {
    await engine?.close();
  });

  for (const [name, body] of Object.entries(WAITS)) {
    it(`ends ${name} at the timeout, and the same interpreter serves the next call`, async () => {
      const started = performance.now();
      const e = await rejectsWith(me.doEval({ source: `def f():\n    ${body}` }, { timeoutMs: TIMEOUT_MS }), 'TIMEOUT');
      const late = performance.now() - started - TIMEOUT_MS;
      expect(e.message).toMatch(/300 ms/);
      expect(late, `ended ${Math.round(late)} ms after the deadline`).toBeLessThan(LATE_MS);
      // Not replaced: the value an earlier call left in this worker's interpreter is still there.
      expect(await mark()).toBe(token);
    });
  }

  it('raises KeyboardInterrupt inside the sleeping UDF', async () => {
    const source = 'import sys, time\ndef f():\n    try:\n        time.sleep(30)\n    except KeyboardInterrupt:\n        sys._insitu_saw_interrupt = True\n        raise';
    await rejectsWith(me.doEval({ source }, { timeoutMs: TIMEOUT_MS }), 'TIMEOUT');
    const saw = await me.doEval({ source: 'import sys\ndef f():\n    return getattr(sys, "_insitu_saw_interrupt", False)' });
    expect(saw.value).toBe(true);
    expect(await mark()).toBe(token);
  });

  it('still waits the full time when nothing interrupts', async () => {
    const source = [
      'import queue, select, threading, time',
      'def f():',
      '    took = {}',
      '    t = time.monotonic(); time.sleep(0.2); took["sleep"] = time.monotonic() - t',
      '    t = time.monotonic(); r = select.select([], [], [], 0.2); took["select"] = time.monotonic() - t',
      '    t = time.monotonic(); e = threading.Event().wait(0.2); took["event"] = time.monotonic() - t',
      '    t = time.monotonic()',
      '    try:',
      '        queue.Queue().get(timeout=0.2)',
      '    except queue.Empty:',
      '        took["queue"] = time.monotonic() - t',
      '    ev = threading.Event(); ev.set()',
      '    return {"took": took, "select": list(map(list, r)), "event": e, "set": ev.wait(5)}',
    ].join('\n');
    const r = (await me.doEval({ source })).value as { took: Record<string, number>; select: unknown; event: boolean; set: boolean };
    expect(Object.keys(r.took).sort()).toEqual(['event', 'queue', 'select', 'sleep']);
    for (const [what, seconds] of Object.entries(r.took)) {
      expect(seconds, what).toBeGreaterThanOrEqual(0.2);
      expect(seconds, what).toBeLessThan(3);
    }
    expect(r.select).toEqual([[], [], []]);
    expect(r.event).toBe(false);
    expect(r.set).toBe(true);
  });

  it("keeps the interpreter's own errors for bad sleep lengths", async () => {
    for (const [arg, type] of [['-1', 'ValueError'], ['float("nan")', 'ValueError'], ['"1"', 'TypeError'], ['1e300', 'OverflowError']] as const) {
      const e = await rejectsWith(me.doEval({ source: `import time\ndef f():\n    time.sleep(${arg})` }), 'PYTHON_ERROR');
      expect(e.pythonType, arg).toBe(type);
    }
  });
});
