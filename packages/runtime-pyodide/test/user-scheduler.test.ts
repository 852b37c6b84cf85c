import { afterEach, describe, expect, it, vi } from 'vitest';
import { SWITCH_AFTER_MS, UserScheduler } from '../src/user-affinity.js';

/** A scheduler over fake worker threads: `replace` swaps a thread for a new one with the next id. */
function harness(n: number) {
  let threads = Array.from({ length: n }, (_, i) => i + 1);
  let next = n + 1;
  const replaced: number[] = [];
  const scheduler = new UserScheduler(
    () => threads,
    (id) => {
      replaced.push(id);
      // The pool starts the replacement later, as piscina does.
      setTimeout(() => {
        threads = threads.map((t) => (t === id ? next++ : t));
        scheduler.sync();
      }, 10);
    },
  );
  scheduler.sync();
  return { scheduler, replaced };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('UserScheduler (one user per interpreter)', () => {
  it("keeps giving a user that user's own worker, and a new user a clean one", async () => {
    const { scheduler, replaced } = harness(2);
    const a1 = await scheduler.acquire('alice');
    scheduler.release(a1);
    expect(await scheduler.acquire('alice')).toBe(a1);
    scheduler.release(a1);
    const b1 = await scheduler.acquire('bob');
    expect(b1).not.toBe(a1);
    expect(replaced).toEqual([]);
  });

  it("replaces the idle worker used longest ago for a user who has none, once, and gives it that user's task", async () => {
    const { scheduler, replaced } = harness(2);
    const a = await scheduler.acquire('alice');
    const b = await scheduler.acquire('bob');
    scheduler.release(a);
    scheduler.release(b);
    const c = await scheduler.acquire('carol');
    expect(replaced).toEqual([a]);
    expect([a, b]).not.toContain(c);
  });

  it("gives the next free worker to a waiting user before another user's queued stream", async () => {
    vi.useFakeTimers();
    const { scheduler, replaced } = harness(2);
    const m1 = await scheduler.acquire('mallory');
    const m2 = await scheduler.acquire('mallory');
    let alice: number | undefined;
    let mallory3: number | undefined;
    void scheduler.acquire('alice').then((t) => (alice = t));
    void scheduler.acquire('mallory').then((t) => (mallory3 = t));
    // mallory's worker frees up: her queued task would fit it, but alice (no worker at all) comes first.
    scheduler.release(m1);
    await vi.advanceTimersByTimeAsync(20);
    expect(replaced).toEqual([m1]);
    expect(alice).toBeDefined();
    expect([m1, m2]).not.toContain(alice);
    expect(mallory3).toBeUndefined();
    scheduler.release(m2);
    await vi.advanceTimersByTimeAsync(1);
    expect(mallory3).toBe(m2);
  });

  it('lets a task wait up to SWITCH_AFTER_MS for its own busy worker, then switches another', async () => {
    vi.useFakeTimers();
    const { scheduler, replaced } = harness(2);
    const a = await scheduler.acquire('alice');
    const b = await scheduler.acquire('bob');
    scheduler.release(b);
    let second: number | undefined;
    void scheduler.acquire('alice').then((t) => (second = t));
    await vi.advanceTimersByTimeAsync(SWITCH_AFTER_MS - 50);
    expect(second).toBeUndefined();
    expect(replaced).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(replaced).toEqual([b]);
    expect(second).toBeDefined();
    expect([a, b]).not.toContain(second);
  });

  it("waits for its own worker that started a task lately rather than switching another one", async () => {
    vi.useFakeTimers();
    const { scheduler, replaced } = harness(2);
    const b = await scheduler.acquire('bob');
    scheduler.release(b);
    const a1 = await scheduler.acquire('alice');
    let a2: number | undefined;
    let a3: number | undefined;
    void scheduler.acquire('alice').then((t) => (a2 = t));
    void scheduler.acquire('alice').then((t) => (a3 = t));
    await vi.advanceTimersByTimeAsync(SWITCH_AFTER_MS - 10);
    // Her first task ends: the second takes her worker. The third is overdue soon after, but her worker
    // has only just started a task, so bob's idle worker is left alone for now...
    scheduler.release(a1);
    await vi.advanceTimersByTimeAsync(30);
    scheduler.sync(); // any event makes the scheduler look again
    expect(a2).toBe(a1);
    expect(replaced).toEqual([]);
    // ...until that task, too, has run SWITCH_AFTER_MS: then bob's worker is replaced for her.
    await vi.advanceTimersByTimeAsync(SWITCH_AFTER_MS + 20);
    expect(replaced).toEqual([b]);
    expect(a3).toBeDefined();
    expect([a1, b]).not.toContain(a3);
  });

  it('drops a waiting task whose signal aborts', async () => {
    const { scheduler } = harness(1);
    const a = await scheduler.acquire('alice');
    const ac = new AbortController();
    const waiting = scheduler.acquire('alice', ac.signal);
    ac.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    scheduler.release(a);
    expect(await scheduler.acquire('alice')).toBe(a);
  });
});
