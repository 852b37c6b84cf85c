/**
 * Freezing a sandbox worker's JavaScript realm once its interpreter is up. Python reaches JavaScript
 * objects (through any JS proxy: the host channel's functions, `pyodide.ffi.to_js` values, errors),
 * and from any of them the realm's shared intrinsics: `Object.prototype`, `Function.prototype`, `Error`
 * and the rest. Frozen by a hardened-JS lockdown (the `ses` package), nothing can be planted there — no
 * getter that would hand Python an internal object, no `Error.prepareStackTrace` hook — and code
 * generation from strings stays disabled. Everything the worker runs is loaded before.
 */

type Lockdown = (options: Record<string, string>) => void;

/** Lock down this thread's realm (once; later calls do nothing). */
export async function freezeRealm(): Promise<void> {
  const g = globalThis as { lockdown?: Lockdown; harden?: unknown };
  if (typeof g.harden === 'function' && Object.isFrozen(Object.prototype)) return;
  await import('ses');
  g.lockdown!({
    // No messages about the intrinsics it removes (Emscripten's `.sig` on Math functions).
    reporting: 'none',
    // Keep stacks and the console as they are: they only format what the worker itself logs.
    errorTaming: 'unsafe',
    stackFiltering: 'verbose',
    consoleTaming: 'unsafe',
    overrideTaming: 'moderate',
    evalTaming: 'no-eval',
    domainTaming: 'unsafe',
  });
}
