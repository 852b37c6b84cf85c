/**
 * One user per interpreter. A worker serves the calls of the first user it runs for and nobody
 * else's: module state, monkey-patched functions or anything else a UDF leaves in its interpreter is
 * seen only by later calls of the same user. Switching a worker to another user means replacing it by
 * a clean one (a new thread restoring the start-up snapshot: ~0.3–0.5 s), so the scheduler here keeps
 * switches rare: a task goes to an idle worker of its user, else to a clean worker, and it waits for
 * one of those while its user has workers that will free up. A task that has waited longer than
 * {@link SWITCH_AFTER_MS} (or whose user has no worker at all) comes first: the next worker to be idle
 * is its own or is replaced for it, so no user's stream of calls can starve another's. A running
 * call is never pre-empted: a user whose long calls hold every worker delays the others until one ends.
 */
import { Piscina } from 'piscina';

type Balancer = NonNullable<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer']>;
type PoolTask = Parameters<Balancer>[0];
type PoolWorker = Parameters<Balancer>[1][number];

/** A waiting task older than this may take another user's idle worker (which is then replaced). */
export const SWITCH_AFTER_MS = 250;

/** What a request carries (under `Piscina.queueOptionsSymbol`) for the balancer: the worker chosen for it. */
interface Routing {
  readonly threadId: number;
}

/** Attach the chosen worker to a request, where the balancer reads it (symbol keys are not sent to the worker). */
export function routedTo<T extends object>(req: T, threadId: number): T {
  return Object.assign(req, { [Piscina.queueOptionsSymbol]: { threadId } satisfies Routing });
}

interface Slot {
  /** The user it serves, null while clean. */
  user: string | null;
  busy: boolean;
  /** When its current task was given to it. */
  busySince: number;
  /** Being replaced: never given a task. */
  leaving: boolean;
  lastUsed: number;
}

interface Waiter {
  readonly user: string;
  readonly since: number;
  readonly grant: (threadId: number) => void;
  /** A worker is being replaced for this task. */
  switching: boolean;
}

/** Chooses the worker each task runs on, keeping interpreters to one user each (see the module comment). */
export class UserScheduler {
  readonly #slots = new Map<number, Slot>();
  readonly #waiting: Waiter[] = [];
  readonly #threads: () => readonly number[];
  readonly #replace: (threadId: number) => void;
  #clock = 0;
  #timer: NodeJS.Timeout | undefined;

  /**
   * `threads` lists the live worker threads' ids; `replace` terminates one (the pool starts a clean one
   * in its place, after which {@link sync} is to be called).
   */
  constructor(threads: () => readonly number[], replace: (threadId: number) => void) {
    this.#threads = threads;
    this.#replace = replace;
  }

  /** The balancer to give piscina: it sends each task to the worker chosen for it. */
  readonly balancer: Balancer = (task: PoolTask, workers: PoolWorker[]) => {
    const routing = (task as unknown as Record<symbol, Routing | null | undefined>)[Piscina.queueOptionsSymbol];
    // Null while the chosen worker is still starting: piscina queues the task and offers it again
    // (with every worker) once that worker is ready.
    return workers.find((w) => w.id === routing?.threadId) ?? null;
  };

  /** Wait for a worker for a task of `user`; resolves to its thread id. Call {@link release} after the task. */
  acquire(user: string, signal?: AbortSignal): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = {
        user,
        since: Date.now(),
        switching: false,
        grant: (threadId) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(threadId);
        },
      };
      const onAbort = () => {
        const i = this.#waiting.indexOf(waiter);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
      this.#dispatch();
    });
  }

  /** The task on `threadId` is done. */
  release(threadId: number): void {
    const slot = this.#slots.get(threadId);
    if (slot !== undefined) slot.busy = false;
    this.#dispatch();
  }

  /** A worker is being replaced (crashed, too large, or switched): give it no more tasks. */
  retire(threadId: number): void {
    const slot = this.#slots.get(threadId);
    if (slot !== undefined) slot.leaving = true;
  }

  /** Take note of workers started or gone (call on the pool's worker events). */
  sync(): void {
    const live = new Set(this.#threads());
    for (const id of this.#slots.keys()) if (!live.has(id)) this.#slots.delete(id);
    for (const id of live) if (!this.#slots.has(id)) this.#slots.set(id, { user: null, busy: false, busySince: 0, leaving: false, lastUsed: 0 });
    this.#dispatch();
  }

  /** Give idle workers to waiting tasks, as long as one fits. */
  #dispatch(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = Date.now();
    while (this.#waiting.length > 0) {
      const idle = [...this.#slots].filter(([, s]) => !s.busy && !s.leaving);
      if (idle.length === 0) break;
      const pick = this.#choose(idle, now);
      if (pick === null) break;
      const [i, threadId] = pick;
      const [waiter] = this.#waiting.splice(i, 1);
      const slot = this.#slots.get(threadId)!;
      slot.user = waiter!.user;
      slot.busy = true;
      slot.busySince = now;
      slot.lastUsed = ++this.#clock;
      waiter!.grant(threadId);
    }
    // Nothing fits now: look again when the oldest task may take another user's worker.
    const oldest = this.#waiting[0];
    if (oldest !== undefined && this.#timer === undefined) {
      const at = Math.max(oldest.since + SWITCH_AFTER_MS, this.#ownBusySince(oldest.user) + SWITCH_AFTER_MS);
      this.#timer = setTimeout(() => this.#dispatch(), Math.max(1, at - now));
      this.#timer.unref();
    }
  }

  /** When the most recent task still running on a worker of `user` started (0: none runs). */
  #ownBusySince(user: string): number {
    let latest = 0;
    for (const s of this.#slots.values()) if (s.user === user && s.busy && !s.leaving) latest = Math.max(latest, s.busySince);
    return latest;
  }

  /** The waiting task (index) and worker to pair next, or null; may start replacing a worker. */
  #choose(idle: [number, Slot][], now: number): [number, number] | null {
    const owned = (user: string) => idle.find(([, s]) => s.user === user);
    const clean = idle.find(([, s]) => s.user === null);
    const oldest = this.#waiting[0]!;
    const hasWorker = [...this.#slots.values()].some((s) => s.user === oldest.user && !s.leaving);
    // The oldest task comes first once it is overdue, or at once when its user has no worker at all:
    // its own idle worker, a clean one, or else the idle worker used longest ago is replaced for it
    // (once per task) — never handed to somebody else's next task meanwhile.
    if (now - oldest.since >= SWITCH_AFTER_MS || !hasWorker) {
      const mine = owned(oldest.user) ?? clean;
      if (mine !== undefined) return [0, mine[0]];
      // A worker of its own that started its task lately will likely free up sooner than a switch
      // (~0.5 s) would take: wait for it until that task, too, has run SWITCH_AFTER_MS.
      const ownRecent = now - this.#ownBusySince(oldest.user) < SWITCH_AFTER_MS;
      if (!oldest.switching && !ownRecent) {
        const [threadId, slot] = [...idle].sort(([, x], [, y]) => x.lastUsed - y.lastUsed)[0]!;
        oldest.switching = true;
        slot.leaving = true;
        this.#replace(threadId);
        idle = idle.filter(([id]) => id !== threadId);
      }
    }
    // Otherwise the first task whose user has an idle worker; a clean worker goes to the oldest.
    for (let i = 0; i < this.#waiting.length; i++) {
      const mine = idle.find(([, s]) => s.user === this.#waiting[i]!.user);
      if (mine !== undefined) return [i, mine[0]];
    }
    const free = idle.find(([, s]) => s.user === null);
    return free === undefined ? null : [0, free[0]];
  }
}
