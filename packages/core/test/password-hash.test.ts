import { describe, expect, it } from 'vitest';
import { checkPassword, hashPassword, verifyPassword } from '../src/password-hash.js';

describe('password hashes', () => {
  it('verifies the password it was made from and nothing else; salts differ per hash', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse', a)).toBe(true);
    expect(await verifyPassword('correct horse', b)).toBe(true);
    expect(await verifyPassword('correct horsf', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
  });

  it('never matches a missing or malformed hash', async () => {
    expect(await verifyPassword('anything at all', null)).toBe(false);
    for (const bad of ['', 'plain', 'scrypt$1$1$1$AAAA$AAAA', 'bcrypt$1$2$3$4$5', 'scrypt$99999999$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA']) {
      expect(await verifyPassword('anything at all', bad)).toBe(false);
    }
  });

  it('takes passwords of 8 to 1024 characters', () => {
    expect(() => checkPassword('short')).toThrow(/8 to 1024/);
    expect(() => checkPassword('x'.repeat(1025))).toThrow(/8 to 1024/);
    expect(() => checkPassword(12345678 as unknown as string)).toThrow(/8 to 1024/);
    expect(checkPassword('long enough')).toBe('long enough');
  });
});
