import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { threadId } from 'node:worker_threads';

/**
 * Who holds a running job's lease: `host:pid:random`, or `host:pid.thread:random` for an engine made in a
 * worker thread (such as the SQL host's), one per engine. Another engine on the same host
 * can tell at once that the holder's process is gone (the next engine to open the database after a
 * crash need not wait for the lease to expire); across hosts only the lease's expiry tells: a pid is
 * only ever probed on the host it belongs to.
 */

/**
 * This host as engine ids name it: the host name, and on Linux a digest of the boot id and the PID
 * namespace (`name#digest`). Machines that share a host name (containers on several machines) or one
 * machine's containers with separate PID namespaces differ here, so none takes another's pid for its
 * own; a host rebooted since also differs (its old processes are gone, but it is not known from where).
 */
const HOST = (() => {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pids = readlinkSync('/proc/self/ns/pid');
    return `${hostname()}#${createHash('sha256').update(`${boot} ${pids}`).digest('hex').slice(0, 8)}`;
  } catch {
    return hostname();
  }
})();

/** Ids of the engines open in this thread (each thread has its own module instance). */
const live = new Set<string>();

/** A new engine id (registered as live until {@link releaseEngineId}). */
export function newEngineId(): string {
  const id = `${HOST}:${process.pid}${threadId === 0 ? '' : `.${threadId}`}:${randomUUID().slice(0, 8)}`;
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
  if (m === null || m[1] !== HOST) return false;
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
