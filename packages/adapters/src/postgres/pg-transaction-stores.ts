import type { DatastoreStorage, GrantStorage, ScriptStorage } from '@insitu/core';
import { pgError, type PgClient, type PgDatabase, type PgRow } from './pg-database.js';
import { PgDatastoreStore } from './pg-datastore-store.js';
import { PgGrantStore } from './pg-grant-store.js';
import { PgScriptStore } from './pg-script-store.js';

/** The stores' view of the database, bound to one open transaction's connection. */
class TransactionQueries {
  readonly #client: () => Promise<PgClient>;

  constructor(client: () => Promise<PgClient>) {
    this.#client = client;
  }

  /** One statement on the transaction's connection. */
  async query<R extends PgRow = PgRow>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
    const client = await this.#client();
    try {
      return (await client.query<R>(sql, params as unknown[])).rows;
    } catch (e) {
      throw pgError(e, 'PostgreSQL');
    }
  }

  /** `fn` on the transaction's connection. */
  async withClient<T>(fn: (client: PgClient) => Promise<T>): Promise<T> {
    return fn(await this.#client());
  }

  /** `fn` inside the transaction already open (each store call runs under a savepoint of its own, see below). */
  async tx<T>(fn: (client: PgClient) => Promise<T>): Promise<T> {
    return this.withClient(fn);
  }
}

/** The stores `insitu.ds` needs. */
export type DatastoreStores = DatastoreStorage & GrantStorage & ScriptStorage;

/**
 * The engine's datastore, grant and script stores working inside one open transaction (a UDF
 * partition's, see pg-context-session.ts), so what they write commits or rolls back with it. `client`
 * gives the transaction's connection (beginning it when needed); `serial` runs each store call after
 * the session's other requests; each call runs under a savepoint, so a failed one (a datastore that
 * already exists, say) undoes itself only and leaves the transaction usable.
 */
export function transactionStores(client: () => Promise<PgClient>, serial: <T>(fn: () => Promise<T>) => Promise<T>): DatastoreStores {
  // The stores use only query, withClient and tx, which TransactionQueries has with the same meaning.
  const db = new TransactionQueries(client) as unknown as PgDatabase;
  const datastores = new PgDatastoreStore(db);
  const grants = new PgGrantStore(db);
  const scripts = new PgScriptStore(db);
  const inSavepoint =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      serial(async () => {
        const c = await client();
        await c.query('SAVEPOINT insitu_store');
        try {
          const out = await fn(...args);
          await c.query('RELEASE SAVEPOINT insitu_store');
          return out;
        } catch (e) {
          await c.query('ROLLBACK TO SAVEPOINT insitu_store; RELEASE SAVEPOINT insitu_store').catch(() => {});
          throw e;
        }
      });
  return {
    getDatastore: inSavepoint(datastores.getDatastore.bind(datastores)),
    loadObjects: inSavepoint(datastores.loadObjects.bind(datastores)),
    describeObjects: inSavepoint(datastores.describeObjects.bind(datastores)),
    listDatastores: inSavepoint(datastores.listDatastores.bind(datastores)),
    saveDatastore: inSavepoint(datastores.saveDatastore.bind(datastores)),
    deleteDatastore: inSavepoint(datastores.deleteDatastore.bind(datastores)),
    putGrant: inSavepoint(grants.putGrant.bind(grants)),
    deleteGrant: inSavepoint(grants.deleteGrant.bind(grants)),
    hasGrant: inSavepoint(grants.hasGrant.bind(grants)),
    putScript: inSavepoint(scripts.putScript.bind(scripts)),
    getScript: inSavepoint(scripts.getScript.bind(scripts)),
    listScripts: inSavepoint(scripts.listScripts.bind(scripts)),
    deleteScript: inSavepoint(scripts.deleteScript.bind(scripts)),
  } satisfies DatastoreStores;
}
