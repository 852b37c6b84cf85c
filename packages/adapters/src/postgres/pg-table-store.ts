import {
  ErrorCode,
  InsituError,
  type CreateTableRequest,
  type QuerySpec,
  type RowObject,
  type ScanOptions,
  type TableAccessLevel,
  type TableGrant,
  type TableOwnership,
  type TablePrivilegeStorage,
  type TableStorage,
  type UnownedTables,
} from '@insitu/core';
import type { Schema, Table } from 'apache-arrow';
import type { PgDatabase } from './pg-database.js';

// SKELETON (issue 18): the PostgreSQL table store is being written in branch `pgtables`; this file is
// replaced there. Every method refuses with NOT_SUPPORTED until then.
function notYet(): never {
  throw new InsituError(ErrorCode.NOT_SUPPORTED, 'user tables on PostgreSQL are not implemented yet');
}

/** Options for {@link PgTableStore}. */
export interface PgTableStoreOptions {
  /** What every user may do with tables that have no insitu owner. */
  readonly unownedTables: UnownedTables;
}

/** User tables, read-only queries and table privileges on PostgreSQL. */
export class PgTableStore implements TableStorage, TablePrivilegeStorage {
  constructor(
    readonly db: PgDatabase,
    readonly opts: PgTableStoreOptions,
  ) {}

  /** See {@link TableStorage.createTable}. */
  createTable(_name: string, _data: Table | readonly RowObject[], _req: CreateTableRequest): Promise<void> {
    return notYet();
  }
  /** See {@link TableStorage.hasTable}. */
  hasTable(_name: string): Promise<boolean> {
    return notYet();
  }
  /** See {@link TableStorage.describe}. */
  describe(_query: QuerySpec, _user: string): Promise<Schema> {
    return notYet();
  }
  /** See {@link TableStorage.count}. */
  count(_query: QuerySpec, _user: string): Promise<number> {
    return notYet();
  }
  /** See {@link TableStorage.scan}. */
  scan(_query: QuerySpec, _opts: ScanOptions): AsyncIterable<Table> {
    return notYet();
  }
  /** See {@link TablePrivilegeStorage.getTableOwnership}. */
  getTableOwnership(_name: string): Promise<TableOwnership | null> {
    return notYet();
  }
  /** See {@link TablePrivilegeStorage.tableAccess}. */
  tableAccess(_name: string, _user: string): Promise<TableAccessLevel> {
    return notYet();
  }
  /** See {@link TablePrivilegeStorage.setTableOwner}. */
  setTableOwner(_name: string, _owner: string | null): Promise<void> {
    return notYet();
  }
  /** See {@link TablePrivilegeStorage.putTableGrant}. */
  putTableGrant(_grant: TableGrant): Promise<void> {
    return notYet();
  }
  /** See {@link TablePrivilegeStorage.deleteTableGrant}. */
  deleteTableGrant(_table: string, _grantee: string): Promise<boolean> {
    return notYet();
  }
}
