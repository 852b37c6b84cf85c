import { badInput } from './errors.js';
import { PUBLIC } from './storage.js';

/**
 * Check a user name and return it. A user name is any string of 1 to 128 characters without control
 * characters (e-mail addresses and the like are fine: names are never part of SQL text), compared
 * case-sensitively, like owners everywhere; `PUBLIC`, in any case, stands for every user in grants and
 * is reserved. Anything else is BAD_INPUT.
 */
export function checkUserName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 128 || /[\u0000-\u001f\u007f]/.test(name)) {
    throw badInput('a user name must be a string of 1 to 128 characters without control characters');
  }
  const checked = name;
  if (checked.toUpperCase() === PUBLIC) {
    throw badInput(`user name ${JSON.stringify(checked)} is reserved: ${PUBLIC} stands for every user in grants`);
  }
  return checked;
}
