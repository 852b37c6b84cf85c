import { Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { canonicalTable } from './column-kind.js';
import { badInput, ErrorCode, InsituError } from './errors.js';
import type { StoredObject } from './storage.js';
import { TableProxy } from './table-proxy.js';
import { findNonJson, type JsonValue } from './values.js';

/**
 * A datastore object only Python can use (a pickled model, say). The host sees its class and size; a
 * UDF loads the real object with `insitu.ds.load`.
 */
export class PythonObject {
  /** Python class name. */
  readonly class: string;
  /** Serialised size in bytes. */
  readonly size: number;

  /** @internal */
  constructor(cls: string, size: number) {
    this.class = cls;
    this.size = size;
  }

  /** `<Python LinearModel, 1234 bytes>` */
  toString(): string {
    return `<Python ${this.class}, ${this.size} bytes>`;
  }
}

/** What the host gets back from a datastore: a table, a JSON value, or an opaque Python object. */
export type DatastoreValue = Table | JsonValue | PythonObject;

function jsonClass(v: JsonValue): string {
  if (v === null) return 'NoneType';
  if (Array.isArray(v)) return 'list';
  switch (typeof v) {
    case 'string':
      return 'str';
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'float';
    default:
      return 'dict';
  }
}

/** Serialise a host value for a datastore: Arrow tables as Arrow IPC, JSON-able values as JSON. */
export function storedFromHost(name: string, value: unknown): StoredObject {
  if (value instanceof Table) {
    const table = canonicalTable(value, (column, type) => {
      throw badInput(`object ${name}: column ${column} has Arrow type ${String(type)}, which datastores cannot hold; convert it first`);
    });
    const data = tableToIPC(table, 'stream');
    return { name, class: 'Frame', format: 'arrow', data, size: data.byteLength, length: value.numRows, rows: value.numRows, columns: value.numCols };
  }
  if (value instanceof TableProxy) {
    throw badInput(
      `object ${name} is a table proxy, which a datastore does not hold: a proxy is a view whose rows depend on who reads it and when, ` +
        'and a datastore keeps values. Save its rows (await proxy.pull()) or its plan (proxy.toPlan(), JSON that session.run() takes back as a call\'s data)',
    );
  }
  if (value instanceof PythonObject) {
    throw badInput(`object ${name} is a Python object handle; save it from inside a UDF with insitu.ds.save`);
  }
  const bad = findNonJson(value, name);
  if (bad !== null) {
    throw badInput(`object ${name} cannot be saved from the host: ${bad} is not JSON-able (save Arrow tables or JSON values; other objects from a UDF)`);
  }
  const json = value as JsonValue;
  const data = new TextEncoder().encode(JSON.stringify(json));
  const length = typeof json === 'string' ? json.length : Array.isArray(json) ? json.length : json !== null && typeof json === 'object' ? Object.keys(json).length : null;
  return { name, class: jsonClass(json), format: 'json', data, size: data.byteLength, length, rows: null, columns: null };
}

function damaged(object: string, datastore: string, what: string, e: unknown): InsituError {
  return new InsituError(
    ErrorCode.STORAGE_ERROR,
    `object ${object} of datastore ${datastore} holds ${what} that cannot be read (${e instanceof Error ? e.message : String(e)}); ` +
      'it was damaged outside the engine: save it again, or load the other objects by name',
    { cause: e },
  );
}

/**
 * The Arrow table stored as `bytes` for object `object` of datastore `datastore`; STORAGE_ERROR when the
 * bytes are not a readable Arrow IPC stream (they were damaged outside the engine).
 */
export function tableFromStored(bytes: Uint8Array, object: string, datastore: string): Table {
  try {
    return tableFromIPC(bytes);
  } catch (e) {
    throw damaged(object, datastore, 'Arrow data', e);
  }
}

/** The host form of a stored object of datastore `datastore`. */
export function hostFromStored(o: StoredObject, datastore: string): DatastoreValue {
  switch (o.format) {
    case 'json':
      try {
        return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(o.data)) as JsonValue;
      } catch (e) {
        throw damaged(o.name, datastore, 'JSON', e);
      }
    case 'arrow':
      return tableFromStored(o.data, o.name, datastore);
    case 'pickle':
      return new PythonObject(o.class, o.size);
  }
}
