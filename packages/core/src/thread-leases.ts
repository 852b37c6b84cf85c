/**
 * The job leases held by the engines of this thread (each thread has its own module instance). A
 * thread about to block — a SQL function waiting for the SQL host — hands them to a thread that stays
 * awake to renew, or other engines would take its running jobs for abandoned once their leases expire.
 */

/** The running jobs one engine holds leases on. */
export interface HeldLeases {
  /** The engine's lease-holder id. */
  readonly engine: string;
  /** Its running jobs. */
  readonly jobs: readonly string[];
  /** How long each renewal extends a lease, in ms. */
  readonly leaseMs: number;
}

const holders = new Set<() => HeldLeases | null>();

/** Register an engine's leases (`current` says what it holds now); returns the function that unregisters it. */
export function addLeaseHolder(current: () => HeldLeases | null): () => void {
  holders.add(current);
  return () => holders.delete(current);
}

/** The leases every engine of this thread holds now. */
export function heldLeases(): HeldLeases[] {
  const out: HeldLeases[] = [];
  for (const current of holders) {
    const held = current();
    if (held !== null && held.jobs.length > 0) out.push(held);
  }
  return out;
}
