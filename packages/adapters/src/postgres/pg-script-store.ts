import { ErrorCode, InsituError, PUBLIC, type ScriptFilter, type ScriptStorage, type StoredScript, type StoredScriptGrant } from '@insitu/core';
import { pgError, type PgClient, type PgDatabase } from './pg-database.js';
import { LIKE_AS_SQLITE, UNIQUE_VIOLATION, sqlStateOf } from './pg-row-values.js';

/** Scope column value for global scripts; user names have at least one character. */
const GLOBAL_SCOPE = '';

type ScriptRow = {
  grantee?: string;
  name: string;
  owner: string;
  is_global: boolean;
  source: string;
  description: string;
  created: Date;
};

function fromRow(r: ScriptRow): StoredScriptGrant {
  const s = { name: r.name, owner: r.owner, global: r.is_global, source: r.source, description: r.description, created: r.created };
  return r.grantee === undefined ? s : { ...s, grantee: r.grantee };
}

/** Visible through a grant to $1 (the user) or PUBLIC. */
const GRANTED = `EXISTS (SELECT 1 FROM insitu_engine_grants g WHERE g.kind = 'script' AND g.owner = s.owner AND g.name = s.name
  AND NOT s.is_global AND g.grantee IN ($1, '${PUBLIC}'))`;

function scopeOf(scope: { owner: string } | { global: true }): string {
  return 'owner' in scope ? scope.owner : GLOBAL_SCOPE;
}

/** The script repository in the `insitu_engine_scripts` table. */
export class PgScriptStore implements ScriptStorage {
  readonly #db: PgDatabase;

  /** Use the given (migrated) database. */
  constructor(db: PgDatabase) {
    this.#db = db;
  }

  /** @inheritdoc */
  putScript(script: StoredScript, opts: { overwrite: boolean }): Promise<void> {
    return this.#db.withClient((c) => put(c, script, opts));
  }

  /** Store several scripts in one transaction: all of them, or none when one fails. */
  putScripts(scripts: readonly StoredScript[], opts: { overwrite: boolean }): Promise<void> {
    return this.#db.tx(async (c) => {
      for (const s of scripts) await put(c, s, opts);
    });
  }

  /** @inheritdoc */
  async getScript(name: string, scope: { owner: string } | { global: true }): Promise<StoredScript | null> {
    const [r] = await this.#db.query<ScriptRow>(`SELECT * FROM insitu_engine_scripts WHERE scope = $1 AND name = $2`, [
      scopeOf(scope),
      name,
    ]);
    return r === undefined ? null : fromRow(r);
  }

  /** @inheritdoc */
  async listScripts(f: ScriptFilter): Promise<StoredScriptGrant[]> {
    const byName = f.name === undefined ? '' : ` AND s.name ILIKE $2 ${LIKE_AS_SQLITE}`;
    const params = f.name === undefined ? [f.user] : [f.user, f.name];
    let sql: string;
    switch (f.type) {
      case 'user':
        sql = `SELECT s.* FROM insitu_engine_scripts s WHERE s.scope = $1${byName} ORDER BY s.name`;
        break;
      case 'global':
        // $1 is bound for every listing; here it only types the parameter.
        sql = `SELECT s.* FROM insitu_engine_scripts s WHERE s.is_global AND $1::text IS NOT NULL${byName} ORDER BY s.name`;
        break;
      case 'all':
        sql = `SELECT s.* FROM insitu_engine_scripts s WHERE (s.scope = $1 OR s.is_global OR ${GRANTED})${byName} ORDER BY s.name, s.owner`;
        break;
      case 'granted':
        sql = `SELECT s.* FROM insitu_engine_scripts s WHERE s.owner <> $1 AND ${GRANTED}${byName} ORDER BY s.name, s.owner`;
        break;
      case 'grant':
        sql = `SELECT s.*, g.grantee FROM insitu_engine_scripts s JOIN insitu_engine_grants g ON g.kind = 'script' AND g.owner = s.owner AND g.name = s.name
               WHERE s.scope = $1${byName} ORDER BY s.name, g.grantee`;
        break;
    }
    return (await this.#db.query<ScriptRow>(sql, params)).map(fromRow);
  }

  /** @inheritdoc */
  deleteScript(name: string, scope: { owner: string } | { global: true }): Promise<boolean> {
    return this.#db.tx(async (c) => {
      const deleted = (await c.query(`DELETE FROM insitu_engine_scripts WHERE scope = $1 AND name = $2`, [scopeOf(scope), name])).rowCount! > 0;
      if (deleted && 'owner' in scope) {
        await c.query(`DELETE FROM insitu_engine_grants WHERE kind = 'script' AND owner = $1 AND name = $2`, [scope.owner, name]);
      }
      return deleted;
    });
  }
}

/** Insert (or with `overwrite`, upsert) one script on `c`; an existing one without overwrite is ALREADY_EXISTS. */
async function put(c: PgClient, s: StoredScript, opts: { overwrite: boolean }): Promise<void> {
  const row = [s.name, s.owner, s.global, s.global ? GLOBAL_SCOPE : s.owner, s.source, s.description, s.created];
  const insert = `INSERT INTO insitu_engine_scripts (name, owner, is_global, scope, source, description, created) VALUES ($1, $2, $3, $4, $5, $6, $7)`;
  try {
    await c.query(
      opts.overwrite
        ? `${insert} ON CONFLICT (scope, name) DO UPDATE SET owner = excluded.owner, source = excluded.source,
             description = excluded.description, created = excluded.created`
        : insert,
      row,
    );
  } catch (e) {
    if (sqlStateOf(e) === UNIQUE_VIOLATION) {
      throw new InsituError(
        ErrorCode.ALREADY_EXISTS,
        `${s.global ? 'global' : 'private'} script ${s.name} already exists; pass { overwrite: true } to replace it`,
        { script: s.name },
      );
    }
    throw pgError(e, 'PostgreSQL');
  }
}
