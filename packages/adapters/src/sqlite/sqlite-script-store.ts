import { ErrorCode, InsituError, type ScriptFilter, type ScriptStorage, type StoredScript } from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';

/** Scope column value for global scripts; user names cannot start with a NUL character. */
const GLOBAL_SCOPE = '\u0000global';

interface ScriptRow {
  name: string;
  owner: string;
  is_global: number;
  source: string;
  description: string;
  created: string;
}

function fromRow(r: ScriptRow): StoredScript {
  return { name: r.name, owner: r.owner, global: r.is_global === 1, source: r.source, description: r.description, created: new Date(r.created) };
}

function scopeOf(scope: { owner: string } | { global: true }): string {
  return 'owner' in scope ? scope.owner : GLOBAL_SCOPE;
}

/** The script repository in the `insitu_scripts` table. */
export class SqliteScriptStore implements ScriptStorage {
  readonly #db: BetterSqlite3.Database;

  /** Use the given (migrated) connection. */
  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
  }

  /** @inheritdoc */
  async putScript(s: StoredScript, opts: { overwrite: boolean }): Promise<void> {
    const scope = s.global ? GLOBAL_SCOPE : s.owner;
    const row = [s.name, s.owner, s.global ? 1 : 0, scope, s.source, s.description, s.created.toISOString()];
    const insert = `INSERT INTO insitu_scripts (name, owner, is_global, scope, source, description, created) VALUES (?, ?, ?, ?, ?, ?, ?)`;
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

  /** @inheritdoc */
  async getScript(name: string, scope: { owner: string } | { global: true }): Promise<StoredScript | null> {
    const r = this.#db.prepare(`SELECT * FROM insitu_scripts WHERE scope = ? AND name = ?`).get(scopeOf(scope), name) as ScriptRow | undefined;
    return r === undefined ? null : fromRow(r);
  }

  /** @inheritdoc */
  async listScripts(f: ScriptFilter): Promise<StoredScript[]> {
    const where =
      f.type === 'user' ? 'owner = @user AND is_global = 0' : f.type === 'global' ? 'is_global = 1' : '(scope = @user OR is_global = 1)';
    const byName = f.name === undefined ? '' : ' AND name LIKE @name';
    const rows = this.#db
      .prepare(`SELECT * FROM insitu_scripts WHERE ${where}${byName} ORDER BY name, owner`)
      .all({ user: f.user, ...(f.name === undefined ? {} : { name: f.name }) }) as ScriptRow[];
    return rows.map(fromRow);
  }

  /** @inheritdoc */
  async deleteScript(name: string, scope: { owner: string } | { global: true }): Promise<boolean> {
    return this.#db.prepare(`DELETE FROM insitu_scripts WHERE scope = ? AND name = ?`).run(scopeOf(scope), name).changes > 0;
  }
}
