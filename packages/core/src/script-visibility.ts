import { badInput } from './errors.js';
import { runAsync, step, type MaybeSync, type Steps } from './steps.js';
import type { ScriptStorage } from './storage.js';

/** A script found by the SHA-256 of its source: whose it is and under which name. */
export interface VisibleScriptRef {
  readonly name: string;
  readonly owner: string;
  readonly global: boolean;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

async function sha256Hex(text: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A script `user` can see (their own, a global one, or one granted to them or to PUBLIC) whose source
 * has the SHA-256 `sourceHash` (64 lowercase hex digits), or null when there is none. This is how a
 * UDF learns whether code carried inside another user's pickled object is a script the loading user
 * could read; it answers yes or no and never returns source. Anything but a hash is BAD_INPUT.
 */
export function visibleScriptBySourceHash(storage: ScriptStorage, user: string, sourceHash: unknown): Promise<VisibleScriptRef | null> {
  return runAsync(visibleScriptSteps(storage, user, sourceHash, sha256Hex));
}

/**
 * {@link visibleScriptBySourceHash} as steps (see steps.ts), with the SHA-256 function to use (one
 * that answers synchronously for a synchronous run).
 */
export function* visibleScriptSteps(
  storage: MaybeSync<ScriptStorage>,
  user: string,
  sourceHash: unknown,
  sha256: (text: string) => string | Promise<string>,
): Steps<VisibleScriptRef | null> {
  if (typeof sourceHash !== 'string' || !SHA256_HEX.test(sourceHash)) throw badInput('a script source hash must be 64 lowercase hex digits (SHA-256)');
  for (const s of yield* step(storage.listScripts({ user, type: 'all' }))) {
    if ((yield* step(sha256(s.source))) === sourceHash) return { name: s.name, owner: s.owner, global: s.global };
  }
  return null;
}
