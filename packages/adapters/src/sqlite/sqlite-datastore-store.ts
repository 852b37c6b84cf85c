import {
  ErrorCode,
  InsituError,
  PUBLIC,
  type DatastoreInfo,
  type DatastoreListType,
  type DatastoreStorage,
  type Synchronous,
  type ObjectInfo,
  type SaveMode,
  type StoredObject,
} from '@insitu/core';
import type BetterSqlite3 from 'better-sqlite3';

interface InfoRow {
  owner: string;
  name: string;
  description: string;
  grantable: number;
  created: string;
  object_count: number;
  size: number | null;
  grantee?: string;
}

interface ObjectRow {
  name: string;
  class: string;
  format: StoredObject['format'];
  size: number;
  length: number | null;
  n_rows: number | null;
  n_columns: number | null;
  data?: Buffer;
}

const INFO = `SELECT d.owner, d.name, d.description, d.grantable, d.created,
  (SELECT count(*) FROM insitu_datastore_objects o WHERE o.owner = d.owner AND o.datastore = d.name) AS object_count,
  (SELECT sum(size) FROM insitu_datastore_objects o WHERE o.owner = d.owner AND o.datastore = d.name) AS size`;

const GRANTED = `EXISTS (SELECT 1 FROM insitu_engine_grants g WHERE g.kind = 'datastore' AND g.owner = d.owner AND g.name = d.name
  AND g.grantee IN (@user, '${PUBLIC}'))`;

function info(r: InfoRow): DatastoreInfo {
  const out = {
    name: r.name,
    owner: r.owner,
    description: r.description,
    grantable: r.grantable === 1,
    objectCount: r.object_count,
    size: r.size ?? 0,
    created: new Date(r.created),
  };
  return r.grantee === undefined ? out : { ...out, grantee: r.grantee };
}

function objectInfo(r: ObjectRow): ObjectInfo {
  return { name: r.name, class: r.class, size: r.size, length: r.length, rows: r.n_rows, columns: r.n_columns };
}

/**
 * Datastores in `insitu_engine_datastores` and `insitu_datastore_objects`; every change is one transaction (a
 * savepoint when the connection is inside one already, as a worker's partition transaction is).
 */
export class SqliteDatastoreStore implements Synchronous<DatastoreStorage> {
  readonly #db: BetterSqlite3.Database;

  /** Use the given (migrated) connection. */
  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
  }

  /** @inheritdoc */
  saveDatastore(
    owner: string,
    name: string,
    objects: readonly StoredObject[],
    opts: { mode: SaveMode; description: string; grantable: boolean },
  ): void {
    const db = this.#db;
    const insertObject = db.prepare(
      `INSERT INTO insitu_datastore_objects (owner, datastore, name, class, format, size, length, n_rows, n_columns, data)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (owner, datastore, name) DO UPDATE SET class = excluded.class, format = excluded.format, size = excluded.size,
         length = excluded.length, n_rows = excluded.n_rows, n_columns = excluded.n_columns, data = excluded.data`,
    );
    db.transaction(() => {
      const exists = db.prepare(`SELECT 1 FROM insitu_engine_datastores WHERE owner = ? AND name = ?`).get(owner, name) !== undefined;
      if (exists && opts.mode === 'create') {
        throw new InsituError(ErrorCode.ALREADY_EXISTS, `datastore ${name} already exists; pass overwrite to replace it or append to add to it`, {
          datastore: name,
        });
      }
      if (exists && opts.mode === 'overwrite') {
        db.prepare(`DELETE FROM insitu_datastore_objects WHERE owner = ? AND datastore = ?`).run(owner, name);
        db.prepare(`UPDATE insitu_engine_datastores SET description = ?, grantable = ?, created = ? WHERE owner = ? AND name = ?`).run(
          opts.description,
          opts.grantable ? 1 : 0,
          new Date().toISOString(),
          owner,
          name,
        );
      }
      if (!exists) {
        db.prepare(`INSERT INTO insitu_engine_datastores (owner, name, description, grantable, created) VALUES (?, ?, ?, ?, ?)`).run(
          owner,
          name,
          opts.description,
          opts.grantable ? 1 : 0,
          new Date().toISOString(),
        );
      }
      for (const o of objects) {
        const data = Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength);
        insertObject.run(owner, name, o.name, o.class, o.format, o.size, o.length, o.rows, o.columns, data);
      }
    }).immediate();
  }

  /** @inheritdoc */
  getDatastore(owner: string, name: string): DatastoreInfo | null {
    const r = this.#db.prepare(`${INFO} FROM insitu_engine_datastores d WHERE d.owner = ? AND d.name = ?`).get(owner, name) as InfoRow | undefined;
    return r === undefined ? null : info(r);
  }

  /** @inheritdoc */
  loadObjects(owner: string, name: string, objects?: readonly string[]): StoredObject[] {
    let rows: ObjectRow[];
    if (objects === undefined) {
      rows = this.#db.prepare(`SELECT * FROM insitu_datastore_objects WHERE owner = ? AND datastore = ? ORDER BY name`).all(owner, name) as ObjectRow[];
    } else {
      rows = this.#db
        .prepare(`SELECT * FROM insitu_datastore_objects WHERE owner = ? AND datastore = ? AND name IN (SELECT value FROM json_each(?)) ORDER BY name`)
        .all(owner, name, JSON.stringify(objects)) as ObjectRow[];
    }
    return rows.map((r) => ({ ...objectInfo(r), format: r.format, data: new Uint8Array(r.data!.buffer, r.data!.byteOffset, r.data!.byteLength) }));
  }

  /** @inheritdoc */
  describeObjects(owner: string, name: string): ObjectInfo[] {
    const rows = this.#db
      .prepare(`SELECT name, class, format, size, length, n_rows, n_columns FROM insitu_datastore_objects WHERE owner = ? AND datastore = ? ORDER BY name`)
      .all(owner, name) as ObjectRow[];
    return rows.map(objectInfo);
  }

  /** @inheritdoc */
  listDatastores(f: { user: string; type: DatastoreListType; name?: string }): DatastoreInfo[] {
    const byName = f.name === undefined ? '' : ' AND d.name LIKE @name';
    const params = { user: f.user, ...(f.name === undefined ? {} : { name: f.name }) };
    let sql: string;
    switch (f.type) {
      case 'user':
        sql = `${INFO} FROM insitu_engine_datastores d WHERE d.owner = @user${byName} ORDER BY d.name`;
        break;
      case 'all':
        sql = `${INFO} FROM insitu_engine_datastores d WHERE (d.owner = @user OR ${GRANTED})${byName} ORDER BY d.name, d.owner`;
        break;
      case 'granted':
        sql = `${INFO} FROM insitu_engine_datastores d WHERE d.owner <> @user AND ${GRANTED}${byName} ORDER BY d.name, d.owner`;
        break;
      case 'grant':
        sql = `${INFO}, g.grantee FROM insitu_engine_datastores d JOIN insitu_engine_grants g ON g.kind = 'datastore' AND g.owner = d.owner AND g.name = d.name
               WHERE d.owner = @user${byName} ORDER BY d.name, g.grantee`;
        break;
    }
    return (this.#db.prepare(sql).all(params) as InfoRow[]).map(info);
  }

  /** @inheritdoc */
  deleteDatastore(owner: string, name: string, objects?: readonly string[]): number {
    const db = this.#db;
    return db.transaction(() => {
      if (objects !== undefined) {
        return db
          .prepare(`DELETE FROM insitu_datastore_objects WHERE owner = ? AND datastore = ? AND name IN (SELECT value FROM json_each(?))`)
          .run(owner, name, JSON.stringify(objects)).changes;
      }
      const removed = db.prepare(`DELETE FROM insitu_datastore_objects WHERE owner = ? AND datastore = ?`).run(owner, name).changes;
      db.prepare(`DELETE FROM insitu_engine_datastores WHERE owner = ? AND name = ?`).run(owner, name);
      db.prepare(`DELETE FROM insitu_engine_grants WHERE kind = 'datastore' AND owner = ? AND name = ?`).run(owner, name);
      return removed;
    }).immediate();
  }
}
