/**
 * Engine state behind signed access tokens (the REST server's): the signing secret, kept in the
 * database so tokens survive a restart, and revoked logins.
 */
export interface AuthStorage {
  /**
   * The engine setting `key`. When it is missing, `value` is stored first, atomically: concurrent
   * callers (or engines on the same database) all get the one value that was stored.
   */
  settingOrInit(key: string, value: string): Promise<string>;
  /**
   * Record that login `id` (every token issued from one sign-in, refreshed ones included) is revoked.
   * `until` is when the last token of that login expires at the latest: the record may be dropped after.
   */
  revokeLogin(id: string, until: Date): Promise<void>;
  /** Whether login `id` was revoked. */
  loginRevoked(id: string): Promise<boolean>;
}
