import { badInput } from './errors.js';
import { checkIdentifier } from './identifiers.js';
import { PUBLIC } from './storage.js';

/**
 * Check a user name and return it. User names follow the identifier rules of tables and scripts
 * (letters, digits and `_`, not starting with a digit, 1..128 characters, no `insitu_`/`sqlite_`
 * prefix) and are case-sensitive, like owners everywhere; `PUBLIC`, in any case, stands for every user
 * in grants and is reserved. Anything else is BAD_INPUT.
 */
export function checkUserName(name: unknown): string {
  const checked = checkIdentifier(name, 'user');
  if (checked.toUpperCase() === PUBLIC) {
    throw badInput(`user name ${JSON.stringify(checked)} is reserved: ${PUBLIC} stands for every user in grants`);
  }
  return checked;
}
