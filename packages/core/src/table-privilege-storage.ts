import { badInput } from './errors.js';

/**
 * Owners and grants of user tables, as storage keeps them. A table (or view) made through insitu is
 * owned by the user who made it; its owner grants `read` or `write` (write implies read) to users or
 * PUBLIC. Tables that exist without an owner follow the engine's {@link UnownedTables} rule.
 */

/** What a grant on a table allows. `write` implies `read`. */
export type TablePrivilege = 'read' | 'write';

/** What one user may do with one table: nothing (it is invisible), read, write, or everything (owner). */
export type TableAccessLevel = 'none' | 'read' | 'write' | 'owner';

/**
 * What every user may do with a table that has no insitu owner (made outside insitu): `read` (default),
 * `write`, or `none` (invisible). An administrator gives such a table an owner with
 * `engine.tables.setOwner()`.
 */
export type UnownedTables = 'read' | 'write' | 'none';

/** The {@link UnownedTables} values. */
export const UNOWNED_TABLES: readonly UnownedTables[] = ['read', 'write', 'none'];

/** One grant on a table. */
export interface TableGrant {
  /** The table's name as its owner spells it. */
  readonly table: string;
  /** A user name or PUBLIC. */
  readonly grantee: string;
  readonly privilege: TablePrivilege;
}

/** A table's owner and whether it exists. */
export interface TableOwnership {
  /** The table's (or view's) name as the database spells it. */
  readonly name: string;
  /** Its insitu owner, or null for a table made outside insitu. */
  readonly owner: string | null;
}

/** Owners and grants of user tables. */
export interface TablePrivilegeStorage {
  /** The table or view `name` (matched case-insensitively) and its owner, or null when there is none. */
  getTableOwnership(name: string): Promise<TableOwnership | null>;
  /** What `user` may do with table `name`, by owner, grants (to the user or PUBLIC) and the unowned rule. */
  tableAccess(name: string, user: string): Promise<TableAccessLevel>;
  /** Make `owner` the owner of table `name` (null: no owner); existing grants stay. */
  setTableOwner(name: string, owner: string | null): Promise<void>;
  /** Add a grant, replacing the grantee's earlier privilege on that table. */
  putTableGrant(grant: TableGrant): Promise<void>;
  /** Remove the grantee's grant on that table; returns whether there was one. */
  deleteTableGrant(table: string, grantee: string): Promise<boolean>;
}

/** Checks a value is one of {@link UNOWNED_TABLES}; undefined gives the default `read`. */
export function checkUnownedTables(v: unknown): UnownedTables {
  if (v === undefined) return 'read';
  if (typeof v === 'string' && (UNOWNED_TABLES as readonly string[]).includes(v)) return v as UnownedTables;
  throw badInput(`unownedTables must be 'read', 'write' or 'none', got ${JSON.stringify(v)}`);
}
