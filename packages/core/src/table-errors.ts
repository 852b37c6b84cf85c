import { ErrorCode, InsituError } from './errors.js';

/**
 * The error for a table that does not exist — and, word for word, for one the user may not read, so
 * that an invisible table cannot be told from a missing one.
 */
export function tableNotFound(name: string, cause?: unknown): InsituError {
  return new InsituError(ErrorCode.TABLE_NOT_FOUND, `table ${name} does not exist`, cause === undefined ? {} : { cause });
}

/** The error for a write to a table the user may read but not write. */
export function tableWriteRefused(name: string, user: string): InsituError {
  return new InsituError(
    ErrorCode.PRIVILEGE,
    `user ${user} may read table ${name} but not write it; its owner can grant write with grant({ table: '${name}', to: '${user}', privilege: 'write' })`,
  );
}

/** The error for a change only a table's owner may make (replace, drop, alter, index, grant). */
export function tableOwnerOnly(name: string, user: string, action: string): InsituError {
  return new InsituError(ErrorCode.PRIVILEGE, `user ${user} cannot ${action} table ${name}: only its owner can`);
}
