import type { AuthStorage } from '@insitu/core';
import type { PgDatabase } from './pg-database.js';

/** The token signing secret (`insitu_engine_settings`) and revoked logins (`insitu_engine_revoked_logins`). */
export class PgAuthStore implements AuthStorage {
  readonly #db: PgDatabase;

  /** Use the given (migrated) database. */
  constructor(db: PgDatabase) {
    this.#db = db;
  }

  /**
   * @inheritdoc
   * An insert racing another engine's waits for it and then does nothing, so the read after it sees the
   * one value stored.
   */
  async settingOrInit(key: string, value: string): Promise<string> {
    await this.#db.query(`INSERT INTO insitu_engine_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, [key, value]);
    const [row] = await this.#db.query<{ value: string }>(`SELECT value FROM insitu_engine_settings WHERE key = $1`, [key]);
    return row!.value;
  }

  /** @inheritdoc Records past their `until` are removed at the same time. */
  revokeLogin(id: string, until: Date): Promise<void> {
    return this.#db.tx(async (c) => {
      await c.query(`DELETE FROM insitu_engine_revoked_logins WHERE until < $1`, [new Date()]);
      await c.query(`INSERT INTO insitu_engine_revoked_logins (id, until) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, [id, until]);
    });
  }

  /** @inheritdoc */
  async loginRevoked(id: string): Promise<boolean> {
    return (await this.#db.query(`SELECT 1 FROM insitu_engine_revoked_logins WHERE id = $1`, [id])).length > 0;
  }
}
