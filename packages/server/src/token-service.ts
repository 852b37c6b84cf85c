import { createHmac, randomBytes, randomUUID, webcrypto } from 'node:crypto';
import type { Storage } from '@insitu/core';
import { SignJWT, jwtVerify } from 'jose';
import { unauthorized } from './rest-errors.js';

/**
 * Access tokens: JWTs signed with HS256 (jose) by a secret that is either given or kept in the
 * database (so tokens survive a restart). A token names its user and its login: the sign-in it
 * descends from through refreshes. Each request checks the signature and expiry, that the login was
 * not revoked, and that the user still exists with the same registration time and password (a user
 * dropped and created again, or whose password changed, holds no valid token).
 */

const ISSUER = 'insitu';
const AUDIENCE = 'insitu-rest';
const SECRET_SETTING = 'rest.token_secret';

/** A verified token's facts. */
export interface TokenClaims {
  /** The user the token acts as. */
  readonly user: string;
  /** The login (sign-in) the token belongs to. */
  readonly login: string;
  /** When that login ends (seconds since the epoch): no refresh goes past it. */
  readonly loginExpires: number;
}

/** A freshly issued token as the token endpoint answers it. */
export interface IssuedToken {
  /** The JWT to send as `Authorization: Bearer <accessToken>`. */
  readonly accessToken: string;
  /** Seconds until it expires. */
  readonly expiresIn: number;
  /** Always `Bearer`. */
  readonly tokenType: 'Bearer';
}

/** Token lifetimes. */
export interface TokenLifetimes {
  /** Seconds a token is valid. */
  readonly ttlS: number;
  /** Seconds after sign-in until which tokens of that login can be refreshed. */
  readonly refreshMaxS: number;
}

/** The signing key: `secret` when given (at least 32 bytes), else the database's, created on first use. */
export async function signingKey(storage: Storage, secret: string | Uint8Array | undefined): Promise<Uint8Array> {
  if (secret !== undefined) {
    const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : new Uint8Array(secret);
    if (key.length < 32) throw new RangeError('secret must be at least 32 bytes (characters) long');
    return key;
  }
  const stored = await storage.settingOrInit(SECRET_SETTING, randomBytes(32).toString('base64'));
  return new Uint8Array(Buffer.from(stored, 'base64'));
}

const now = () => Math.floor(Date.now() / 1000);

/** Issues, checks and revokes tokens for one server. */
export class TokenService {
  readonly #storage: Storage;
  readonly #key: Uint8Array;
  /** The key imported once for signing and verifying (jose would import raw bytes on every call). */
  readonly #cryptoKey: Promise<webcrypto.CryptoKey>;
  readonly #life: TokenLifetimes;

  /** Tokens signed with `key`, with their state in `storage`. */
  constructor(storage: Storage, key: Uint8Array, life: TokenLifetimes) {
    this.#storage = storage;
    this.#key = key;
    this.#cryptoKey = webcrypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    this.#life = life;
  }

  /** A short keyed digest of a password hash: tokens carry it, so a new password ends them. */
  #passwordTag(hash: string): string {
    return createHmac('sha256', this.#key).update(hash).digest('base64url').slice(0, 22);
  }

  /** The facts tokens of `user` are bound to, or null when the user cannot sign in. */
  async #binding(user: string): Promise<{ uct: number; pwd: string } | null> {
    const cred = await this.#storage.getCredentials(user);
    if (cred === null || cred.passwordHash === null) return null;
    return { uct: cred.created.getTime(), pwd: this.#passwordTag(cred.passwordHash) };
  }

  /** A new token for `user` (signed in just now, or refreshing `login`). */
  async issue(user: string, login?: TokenClaims): Promise<IssuedToken> {
    const binding = await this.#binding(user);
    if (binding === null) throw unauthorized('invalid username or password');
    const iat = now();
    const loginId = login?.login ?? randomUUID();
    const loginExpires = login?.loginExpires ?? iat + this.#life.refreshMaxS;
    const exp = Math.min(iat + this.#life.ttlS, loginExpires);
    if (exp <= iat) throw unauthorized(`this login is older than the refresh limit (refreshMaxS = ${this.#life.refreshMaxS} s): sign in again`);
    const accessToken = await new SignJWT({ lid: loginId, lxp: loginExpires, uct: binding.uct, pwd: binding.pwd })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(await this.#cryptoKey);
    return { accessToken, expiresIn: exp - iat, tokenType: 'Bearer' };
  }

  /** The claims of a valid token; 401 for anything else (the reason in the message, never a detail of the key). */
  async verify(token: string): Promise<TokenClaims> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, await this.#cryptoKey, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, requiredClaims: ['sub', 'exp', 'iat'] }));
    } catch (e) {
      const expired = (e as { code?: unknown }).code === 'ERR_JWT_EXPIRED';
      throw unauthorized(expired ? 'the access token has expired: refresh it or sign in again' : 'the access token is not valid');
    }
    const { sub, lid, lxp, uct, pwd } = payload;
    if (typeof sub !== 'string' || typeof lid !== 'string' || typeof lxp !== 'number' || typeof uct !== 'number' || typeof pwd !== 'string') {
      throw unauthorized('the access token is not valid');
    }
    if (await this.#storage.loginRevoked(lid)) throw unauthorized('the access token was revoked: sign in again');
    const binding = await this.#binding(sub);
    if (binding === null || binding.uct !== uct || binding.pwd !== pwd) {
      throw unauthorized('the access token is no longer valid (its user was dropped or changed password): sign in again');
    }
    return { user: sub, login: lid, loginExpires: lxp };
  }

  /** End a login: its tokens, refreshed ones included, stop working and cannot be refreshed. */
  async revoke(claims: TokenClaims): Promise<void> {
    await this.#storage.revokeLogin(claims.login, new Date(claims.loginExpires * 1000));
  }
}
