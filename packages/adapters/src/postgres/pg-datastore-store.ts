import {
  ErrorCode,
  InsituError,
  PUBLIC,
  type DatastoreInfo,
  type DatastoreListType,
  type DatastoreStorage,
  type ObjectInfo,
  type SaveMode,
  type StoredObject,
} from '@insitu/core';
import type { PgDatabase } from './pg-database.js';
import { LIKE_AS_SQLITE, bufferOf, bytesOf, num, numOrNull } from './pg-row-values.js';

type InfoRow = {
  owner: string;
  name: string;
  description: string;
  grantable: boolean;
  created: Date;
  object_count: string;
  size: string | null;
  grantee?: string;
};

type ObjectRow = {
  name: string;
  class: string;
  format: StoredObject['format'];
  size: string;
  length: string | null;
  n_rows: string | null;
  n_columns: string | null;
  data?: Buffer;
};

const INFO = `SELECT d.owner, d.name, d.description, d.grantable, d.created,
  (SELECT count(*) FROM insitu_engine_datastore_objects o WHERE o.owner = d.owner AND o.datastore = d.name) AS object_count,
  (SELECT sum(size) FROM insitu_engine_datastore_objects o WHERE o.owner = d.owner AND o.datastore = d.name) AS size`;

/** Readable through a grant to $1 (the user) or PUBLIC. */
const GRANTED = `EXISTS (SELECT 1 FROM insitu_engine_grants g WHERE g.kind = 'datastore' AND g.owner = d.owner AND g.name = d.name
  AND g.grantee IN ($1, '${PUBLIC}'))`;

function info(r: InfoRow): DatastoreInfo {
  const out = {
    name: r.name,
    owner: r.owner,
    description: r.description,
    grantable: r.grantable,
    objectCount: num(r.object_count),
    size: numOrNull(r.size) ?? 0,
    created: r.created,
  };
  return r.grantee === undefined ? out : { ...out, grantee: r.grantee };
}

function objectInfo(r: ObjectRow): ObjectInfo {
  return { name: r.name, class: r.class, size: num(r.size), length: numOrNull(r.length), rows: numOrNull(r.n_rows), columns: numOrNull(r.n_columns) };
}

const OBJECT_INFO_COLUMNS = `name, class, format, size, length, n_rows, n_columns`;

/** Datastores in `insitu_engine_datastores` and their objects (BYTEA) in `insitu_engine_datastore_objects`. */
export class PgDatastoreStore implements DatastoreStorage {
  readonly #db: PgDatabase;

  /** Use the given (migrated) database. */
  constructor(db: PgDatabase) {
    this.#db = db;
  }

  /**
   * @inheritdoc
   * The datastore's row is inserted if missing, then locked: concurrent saves of one datastore (from
   * any engine) run one after the other, and of two `create`s exactly one succeeds.
   */
  saveDatastore(
    owner: string,
    name: string,
    objects: readonly StoredObject[],
    opts: { mode: SaveMode; description: string; grantable: boolean },
  ): Promise<void> {
    return this.#db.tx(async (c) => {
      const now = new Date();
      const added =
        (
          await c.query(
            `INSERT INTO insitu_engine_datastores (owner, name, description, grantable, created) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (owner, name) DO NOTHING RETURNING 1`,
            [owner, name, opts.description, opts.grantable, now],
          )
        ).rowCount! > 0;
      if (!added) {
        if (opts.mode === 'create') {
          throw new InsituError(ErrorCode.ALREADY_EXISTS, `datastore ${name} already exists; pass overwrite to replace it or append to add to it`, {
            datastore: name,
          });
        }
        await c.query(`SELECT 1 FROM insitu_engine_datastores WHERE owner = $1 AND name = $2 FOR UPDATE`, [owner, name]);
        if (opts.mode === 'overwrite') {
          await c.query(`DELETE FROM insitu_engine_datastore_objects WHERE owner = $1 AND datastore = $2`, [owner, name]);
          await c.query(`UPDATE insitu_engine_datastores SET description = $1, grantable = $2, created = $3 WHERE owner = $4 AND name = $5`, [
            opts.description,
            opts.grantable,
            now,
            owner,
            name,
          ]);
        }
      }
      for (const o of objects) {
        await c.query(
          `INSERT INTO insitu_engine_datastore_objects (owner, datastore, name, class, format, size, length, n_rows, n_columns, data)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (owner, datastore, name) DO UPDATE SET class = excluded.class, format = excluded.format, size = excluded.size,
             length = excluded.length, n_rows = excluded.n_rows, n_columns = excluded.n_columns, data = excluded.data`,
          [owner, name, o.name, o.class, o.format, o.size, o.length, o.rows, o.columns, bufferOf(o.data)],
        );
      }
    });
  }

  /** @inheritdoc */
  async getDatastore(owner: string, name: string): Promise<DatastoreInfo | null> {
    const [r] = await this.#db.query<InfoRow>(`${INFO} FROM insitu_engine_datastores d WHERE d.owner = $1 AND d.name = $2`, [owner, name]);
    return r === undefined ? null : info(r);
  }

  /** @inheritdoc */
  async loadObjects(owner: string, name: string, objects?: readonly string[]): Promise<StoredObject[]> {
    const rows =
      objects === undefined
        ? await this.#db.query<ObjectRow>(`SELECT * FROM insitu_engine_datastore_objects WHERE owner = $1 AND datastore = $2 ORDER BY name`, [owner, name])
        : await this.#db.query<ObjectRow>(
            `SELECT * FROM insitu_engine_datastore_objects WHERE owner = $1 AND datastore = $2 AND name = ANY($3::text[]) ORDER BY name`,
            [owner, name, objects],
          );
    return rows.map((r) => ({ ...objectInfo(r), format: r.format, data: bytesOf(r.data!) }));
  }

  /** @inheritdoc */
  async describeObjects(owner: string, name: string): Promise<ObjectInfo[]> {
    const rows = await this.#db.query<ObjectRow>(
      `SELECT ${OBJECT_INFO_COLUMNS} FROM insitu_engine_datastore_objects WHERE owner = $1 AND datastore = $2 ORDER BY name`,
      [owner, name],
    );
    return rows.map(objectInfo);
  }

  /** @inheritdoc */
  async listDatastores(f: { user: string; type: DatastoreListType; name?: string }): Promise<DatastoreInfo[]> {
    const byName = f.name === undefined ? '' : ` AND d.name ILIKE $2 ${LIKE_AS_SQLITE}`;
    const params = f.name === undefined ? [f.user] : [f.user, f.name];
    let sql: string;
    switch (f.type) {
      case 'user':
        sql = `${INFO} FROM insitu_engine_datastores d WHERE d.owner = $1${byName} ORDER BY d.name`;
        break;
      case 'all':
        sql = `${INFO} FROM insitu_engine_datastores d WHERE (d.owner = $1 OR ${GRANTED})${byName} ORDER BY d.name, d.owner`;
        break;
      case 'granted':
        sql = `${INFO} FROM insitu_engine_datastores d WHERE d.owner <> $1 AND ${GRANTED}${byName} ORDER BY d.name, d.owner`;
        break;
      case 'grant':
        sql = `${INFO}, g.grantee FROM insitu_engine_datastores d JOIN insitu_engine_grants g ON g.kind = 'datastore' AND g.owner = d.owner AND g.name = d.name
               WHERE d.owner = $1${byName} ORDER BY d.name, g.grantee`;
        break;
    }
    return (await this.#db.query<InfoRow>(sql, params)).map(info);
  }

  /** @inheritdoc */
  deleteDatastore(owner: string, name: string, objects?: readonly string[]): Promise<number> {
    return this.#db.tx(async (c) => {
      if (objects !== undefined) {
        return (await c.query(`DELETE FROM insitu_engine_datastore_objects WHERE owner = $1 AND datastore = $2 AND name = ANY($3::text[])`, [owner, name, objects]))
          .rowCount!;
      }
      const removed = (await c.query(`DELETE FROM insitu_engine_datastore_objects WHERE owner = $1 AND datastore = $2`, [owner, name])).rowCount!;
      await c.query(`DELETE FROM insitu_engine_datastores WHERE owner = $1 AND name = $2`, [owner, name]);
      await c.query(`DELETE FROM insitu_engine_grants WHERE kind = 'datastore' AND owner = $1 AND name = $2`, [owner, name]);
      return removed;
    });
  }
}
