import type { AuthStorage } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';

/** The token signing secret (`insitu_settings`) and revoked logins (`insitu_revoked_logins`). */
export class SqliteAuthStore implements AuthStorage {
  readonly #db: BetterSqlite3.Database;
  #revoked: BetterSqlite3.Statement | null = null;

  /** Use the given (migrated) connection. */
  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
  }

  /** @inheritdoc */
  async settingOrInit(key: string, value: string): Promise<string> {
    this.#db.prepare(`INSERT INTO insitu_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`).run(key, value);
    return this.#db.prepare(`SELECT value FROM insitu_settings WHERE key = ?`).pluck().get(key) as string;
  }

  /** @inheritdoc Records past their `until` are removed at the same time. */
  async revokeLogin(id: string, until: Date): Promise<void> {
    const db = this.#db;
    db.transaction(() => {
      db.prepare(`DELETE FROM insitu_revoked_logins WHERE until < ?`).run(new Date().toISOString());
      db.prepare(`INSERT INTO insitu_revoked_logins (id, until) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`).run(id, until.toISOString());
    }).immediate();
  }

  /** @inheritdoc */
  async loginRevoked(id: string): Promise<boolean> {
    // Asked on every authenticated request: one prepared statement.
    this.#revoked ??= this.#db.prepare(`SELECT 1 FROM insitu_revoked_logins WHERE id = ?`).pluck();
    return this.#revoked.get(id) !== undefined;
  }
}
