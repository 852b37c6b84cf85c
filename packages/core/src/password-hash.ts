import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { badInput } from './errors.js';

/**
 * Password hashes of registered users: scrypt (node:crypto) with a random 16-byte salt per hash, kept
 * as one self-describing string `scrypt$N$r$p$<salt base64>$<hash base64>`, so the cost can be raised
 * later without breaking stored hashes.
 */

/** scrypt cost parameters of new hashes: N = 2^15, r = 8, p = 1 (32 MiB, ~50-100 ms on one core). */
const COST = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

/** Shortest and longest password accepted, in characters. */
export const PASSWORD_LENGTH = { min: 8, max: 1024 } as const;

function derive(password: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { ...cost, maxmem: 128 * cost.N * cost.r * 2 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, opts, (err, key) => (err === null ? resolve(key) : reject(err)));
  });
}

/** Check a new password: a string of {@link PASSWORD_LENGTH} characters (BAD_INPUT otherwise). */
export function checkPassword(password: unknown): string {
  if (typeof password !== 'string' || password.length < PASSWORD_LENGTH.min || password.length > PASSWORD_LENGTH.max) {
    throw badInput(`a password must be a string of ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters`);
  }
  return password;
}

/** A new hash of `password` with a fresh random salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, COST);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** A hash no password matches, checked when a user has none so that the answer takes as long. */
const NO_MATCH = `scrypt$${COST.N}$${COST.r}$${COST.p}$${Buffer.alloc(SALT_BYTES).toString('base64')}$${Buffer.alloc(KEY_BYTES).toString('base64')}`;

/**
 * Whether `password` matches `hash` (compared in constant time). A null hash (no such user, or no
 * password set) is checked against a dummy hash and never matches, so both take the same time.
 */
export async function verifyPassword(password: string, hash: string | null): Promise<boolean> {
  const parts = (hash ?? NO_MATCH).split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0) || N > 2 ** 20 || r > 32 || p > 16) return false;
  const salt = Buffer.from(parts[4]!, 'base64');
  const expected = Buffer.from(parts[5]!, 'base64');
  if (expected.length !== KEY_BYTES || typeof password !== 'string') return false;
  const key = await derive(password, salt, { N, r, p });
  return timingSafeEqual(key, expected) && hash !== null;
}
