// A worker thread stopped while it is still booting is replaced like any other: piscina takes a thread
// that exits before it is ready for one that cannot boot and, from then on, replaces no thread at all,
// so the engine terminates a booting thread only once it has booted. Before that, a call cancelled
// while its worker booted left the pool without workers and every later call waited forever.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEngine, type Engine } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

let engine: Engine;
const db = tempDatabase();

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 1 });
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

it('keeps serving after calls are cancelled while their worker boots, across users', async () => {
  const SLEEP = { source: 'import time\ndef f(s=0):\n    time.sleep(s)\n    return s' };
  for (const user of ['alice', 'bob', 'carol']) {
    const me = engine.session({ user });
    // A new user's first call replaces the one worker: the call waits for a thread that is booting.
    const ac = new AbortController();
    const cancelled = me.doEval(SLEEP, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await rejectsWith(cancelled, 'CANCELLED');
    const started = Date.now();
    expect((await me.doEval(SLEEP, { args: { s: 0.01 }, timeoutMs: 30_000 })).value, user).toBe(0.01);
    expect(Date.now() - started, user).toBeLessThan(20_000);
  }
}, 120_000);
