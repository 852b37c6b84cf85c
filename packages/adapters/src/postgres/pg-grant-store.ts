import { PUBLIC, type Grant, type GrantKind, type GrantStorage } from '@insitu/core';
import type { PgDatabase } from './pg-database.js';

/** Read grants in the `insitu_engine_grants` table. */
export class PgGrantStore implements GrantStorage {
  readonly #db: PgDatabase;

  /** Use the given (migrated) database. */
  constructor(db: PgDatabase) {
    this.#db = db;
  }

  /** @inheritdoc */
  async putGrant(g: Grant): Promise<void> {
    await this.#db.query(
      `INSERT INTO insitu_engine_grants (kind, owner, name, grantee, created) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
      [g.kind, g.owner, g.name, g.grantee, new Date()],
    );
  }

  /** @inheritdoc */
  async deleteGrant(g: Grant): Promise<boolean> {
    const rows = await this.#db.query(
      `DELETE FROM insitu_engine_grants WHERE kind = $1 AND owner = $2 AND name = $3 AND grantee = $4 RETURNING 1`,
      [g.kind, g.owner, g.name, g.grantee],
    );
    return rows.length > 0;
  }

  /** @inheritdoc */
  async hasGrant(kind: GrantKind, owner: string, name: string, user: string): Promise<boolean> {
    const rows = await this.#db.query(
      `SELECT 1 FROM insitu_engine_grants WHERE kind = $1 AND owner = $2 AND name = $3 AND grantee IN ($4, '${PUBLIC}')`,
      [kind, owner, name, user],
    );
    return rows.length > 0;
  }
}
