/**
 * The blocking half of interruptible waits in Python (see python/insitu/_interruptible_waits.py):
 * Python's `time.sleep`, `select.select` and threading waits call `_insitu_host.wait(seconds)`, which
 * sleeps on the call's interrupt word and raises KeyboardInterrupt in Python when the pool interrupts
 * the call. The pool wakes the sleep (`Atomics.notify`) when it writes the interrupt, so the UDF stops
 * at once instead of after its worker is terminated.
 */

/** The value the pool writes into the interrupt word to interrupt a UDF (SIGINT). */
export const SIGINT = 2;

/**
 * Write SIGINT into an interrupt word and wake a UDF sleeping on it. Pure Python sees the interrupt
 * within a few ms anyway; a UDF in `time.sleep` and the like sees it at once.
 */
export function interrupt(word: Int32Array): void {
  Atomics.store(word, 0, SIGINT);
  Atomics.notify(word, 0);
}

/**
 * Block the calling thread for up to `seconds` (at least 0), or until `word[0]` is no longer 0 (an
 * interrupt), then let Python see a pending interrupt: `checkInterrupt` is Pyodide's, which raises
 * KeyboardInterrupt in the Python code that called this.
 */
export function interruptibleWait(word: Int32Array, seconds: number, checkInterrupt: () => void): void {
  const ms = Number.isFinite(seconds) ? Math.max(0, seconds * 1000) : 0;
  if (ms > 0) Atomics.wait(word, 0, 0, ms);
  checkInterrupt();
}
