import { ErrorCode, InsituError, PUBLIC, type ScriptFilter, type ScriptStorage, type StoredScript, type StoredScriptGrant, type Synchronous } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';

/** Scope column value for global scripts; user names cannot start with a NUL character. */
const GLOBAL_SCOPE = '\u0000global';

interface ScriptRow {
  grantee?: string;
  name: string;
  owner: string;
  is_global: number;
  source: string;
  description: string;
  created: string;
}

function fromRow(r: ScriptRow): StoredScriptGrant {
  const s = { name: r.name, owner: r.owner, global: r.is_global === 1, source: r.source, description: r.description, created: new Date(r.created) };
  return r.grantee === undefined ? s : { ...s, grantee: r.grantee };
}

/** Visible through a grant to @user or PUBLIC. */
const GRANTED = `EXISTS (SELECT 1 FROM insitu_engine_grants g WHERE g.kind = 'script' AND g.owner = s.owner AND g.name = s.name
  AND s.is_global = 0 AND g.grantee IN (@user, '${PUBLIC}'))`;

function scopeOf(scope: { owner: string } | { global: true }): string {
  return 'owner' in scope ? scope.owner : GLOBAL_SCOPE;
}

/** The script repository in the `insitu_engine_scripts` table. */
export class SqliteScriptStore implements Synchronous<ScriptStorage> {
  readonly #db: BetterSqlite3.Database;

  /** Use the given (migrated) connection. */
  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
  }

  /** @inheritdoc */
  putScript(s: StoredScript, opts: { overwrite: boolean }): void {
    const scope = s.global ? GLOBAL_SCOPE : s.owner;
    const row = [s.name, s.owner, s.global ? 1 : 0, scope, s.source, s.description, s.created.toISOString()];
    const insert = `INSERT INTO insitu_engine_scripts (name, owner, is_global, scope, source, description, created) VALUES (?, ?, ?, ?, ?, ?, ?)`;
    try {
      if (opts.overwrite) {
        this.#db.prepare(`${insert} ON CONFLICT (scope, name) DO UPDATE SET owner = excluded.owner, source = excluded.source,
          description = excluded.description, created = excluded.created`).run(row);
      } else {
        this.#db.prepare(insert).run(row);
      }
    } catch (e) {
      if (e instanceof Error && 'code' in e && e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new InsituError(
          ErrorCode.ALREADY_EXISTS,
          `${s.global ? 'global' : 'private'} script ${s.name} already exists; pass { overwrite: true } to replace it`,
          { script: s.name },
        );
      }
      throw e;
    }
  }

  /** Store several scripts in one transaction: all of them, or none when one fails. */
  putScripts(scripts: readonly StoredScript[], opts: { overwrite: boolean }): void {
    this.#db.transaction(() => {
      for (const s of scripts) this.putScript(s, opts);
    })();
  }

  /** @inheritdoc */
  getScript(name: string, scope: { owner: string } | { global: true }): StoredScript | null {
    const r = this.#db.prepare(`SELECT * FROM insitu_engine_scripts WHERE scope = ? AND name = ?`).get(scopeOf(scope), name) as ScriptRow | undefined;
    return r === undefined ? null : fromRow(r);
  }

  /** @inheritdoc */
  listScripts(f: ScriptFilter): StoredScriptGrant[] {
    const byName = f.name === undefined ? '' : ' AND s.name LIKE @name';
    const params = { user: f.user, ...(f.name === undefined ? {} : { name: f.name }) };
    let sql: string;
    switch (f.type) {
      case 'user':
        sql = `SELECT s.* FROM insitu_engine_scripts s WHERE s.scope = @user${byName} ORDER BY s.name`;
        break;
      case 'global':
        sql = `SELECT s.* FROM insitu_engine_scripts s WHERE s.is_global = 1${byName} ORDER BY s.name`;
        break;
      case 'all':
        sql = `SELECT s.* FROM insitu_engine_scripts s WHERE (s.scope = @user OR s.is_global = 1 OR ${GRANTED})${byName} ORDER BY s.name, s.owner`;
        break;
      case 'granted':
        sql = `SELECT s.* FROM insitu_engine_scripts s WHERE s.owner <> @user AND ${GRANTED}${byName} ORDER BY s.name, s.owner`;
        break;
      case 'grant':
        sql = `SELECT s.*, g.grantee FROM insitu_engine_scripts s JOIN insitu_engine_grants g ON g.kind = 'script' AND g.owner = s.owner AND g.name = s.name
               WHERE s.scope = @user${byName} ORDER BY s.name, g.grantee`;
        break;
    }
    return (this.#db.prepare(sql).all(params) as ScriptRow[]).map(fromRow);
  }

  /** @inheritdoc */
  deleteScript(name: string, scope: { owner: string } | { global: true }): boolean {
    return this.#db.transaction(() => {
      const deleted = this.#db.prepare(`DELETE FROM insitu_engine_scripts WHERE scope = ? AND name = ?`).run(scopeOf(scope), name).changes > 0;
      if (deleted && 'owner' in scope) {
        this.#db.prepare(`DELETE FROM insitu_engine_grants WHERE kind = 'script' AND owner = ? AND name = ?`).run(scope.owner, name);
      }
      return deleted;
    }).immediate();
  }
}
