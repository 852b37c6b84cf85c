import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { threadId } from 'node:worker_threads';

/**
 * Who holds a running job's lease: `host:pid:random`, or `host:pid.thread:random` for an engine made in a
 * worker thread (such as the SQL host's), one per engine. Another engine on the same host
 * can tell at once that the holder's process is gone (the next engine to open the file after a crash
 * need not wait for the lease to expire); across hosts only the lease's expiry tells.
 */

/** Ids of the engines open in this thread (each thread has its own module instance). */
const live = new Set<string>();

/** A new engine id (registered as live until {@link releaseEngineId}). */
export function newEngineId(): string {
  const id = `${hostname()}:${process.pid}${threadId === 0 ? '' : `.${threadId}`}:${randomUUID().slice(0, 8)}`;
  live.add(id);
  return id;
}

/** Forget an engine id (its engine closed). */
export function releaseEngineId(id: string): void {
  live.delete(id);
}

/**
 * Whether the engine `id` certainly no longer runs: an engine of this process that closed, or one of
 * another process on this host that no longer exists. Unknown hosts and unreadable ids are not dead.
 */
export function engineIsDead(id: string): boolean {
  const m = /^(.*):(\d+)(?:\.(\d+))?:[0-9a-f]{8}$/.exec(id);
  if (m === null || m[1] !== hostname()) return false;
  const pid = Number(m[2]);
  // Only this thread's own engines are known; one of another thread of this process may well be open.
  if (pid === process.pid) return Number(m[3] ?? 0) === threadId ? !live.has(id) : false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as { code?: string }).code === 'ESRCH';
  }
}
