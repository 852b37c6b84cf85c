import { schemaOf, tableOfColumns, type ColumnKind } from '@insitu/core';
import type { Schema, Table } from 'apache-arrow';
import Cursor from 'pg-cursor';
import { ColumnWriter } from '../sqlite/sqlite-column-builder.js';
import { kindOfPgType, PG_READ_TYPES } from './pg-column-kind.js';
import type { PgClient } from './pg-database.js';

/** A result column as the driver describes it. */
interface FieldInfo {
  readonly name: string;
  readonly dataTypeID: number;
}

/** Names and kinds of a result's columns, and its Arrow schema. */
export function schemaOfFields(fields: readonly FieldInfo[]): { names: string[]; kinds: ColumnKind[]; schema: Schema } {
  const names = fields.map((f) => f.name);
  const kinds = fields.map((f) => kindOfPgType(f.dataTypeID));
  return { names, kinds, schema: schemaOf(names, kinds) };
}

/** Rows per round trip to the server. */
const FETCH_ROWS = 8192;

/**
 * Read a statement's rows through a server-side cursor (pg-cursor), `FETCH_ROWS` at a time, as Arrow
 * tables of `batchRows` rows, also cut where the values of the `breakOn` columns change. Values go
 * straight into typed arrays, so memory holds one batch and one fetch, whatever the result's size.
 * Runs on `client` inside the caller's transaction. With no rows, yields one empty table (its schema).
 */
export async function* cursorBatches(
  client: PgClient,
  sql: string,
  params: readonly unknown[],
  batchRows: number,
  breakOn: readonly string[] = [],
  signal?: AbortSignal,
): AsyncGenerator<Table> {
  const cursor = client.query(new Cursor(sql, params as unknown[], { rowMode: 'array', types: PG_READ_TYPES }));
  try {
    let names: string[] | null = null;
    let kinds: ColumnKind[] = [];
    let breakIdx: number[] = [];
    let writers: ColumnWriter[] = [];
    let n = 0;
    let prev: unknown[] | null = null;
    let yielded = false;
    // Writers start small and double as rows come: batches cut at group boundaries are often short.
    const fresh = () => kinds.map((k, c) => new ColumnWriter(k, names![c]!, Math.min(batchRows, breakOn.length > 0 ? 64 : FETCH_ROWS)));
    const flush = (): Table => {
      const t = tableOfColumns(schemaOf(names!, kinds), writers.map((w) => w.finish(n)), n);
      writers = fresh();
      n = 0;
      yielded = true;
      return t;
    };
    for (;;) {
      signal?.throwIfAborted();
      const { rows, fields } = await read(cursor, FETCH_ROWS);
      if (names === null) {
        ({ names, kinds } = schemaOfFields(fields));
        breakIdx = breakOn.map((c) => columnIndex(names!, c));
        writers = fresh();
      }
      for (const row of rows) {
        if (n > 0 && prev !== null && breakIdx.length > 0 && breakIdx.some((i) => !sameKey(prev![i], row[i]))) yield flush();
        for (let c = 0; c < writers.length; c++) writers[c]!.put(n, row[c]);
        n++;
        prev = row;
        if (n === batchRows) yield flush();
      }
      if (rows.length < FETCH_ROWS) break;
    }
    if (n > 0 || !yielded) yield flush();
  } finally {
    await cursor.close().catch(() => {});
  }
}

/** The next `n` rows of the cursor and the result's columns. */
function read(cursor: Cursor, n: number): Promise<{ rows: unknown[][]; fields: readonly FieldInfo[] }> {
  return new Promise((resolve, reject) => {
    cursor.read(n, (err, rows, result) => (err ? reject(err) : resolve({ rows, fields: result?.fields ?? [] })));
  });
}

function sameKey(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  return a === b;
}

/**
 * Iterate `produce(client)` on a connection checked out of the pool for as long as the iteration runs:
 * each value is handed over only when the consumer asks for it (so a slow reader never makes the
 * connection buffer rows), and the connection goes back to the pool when either side stops.
 */
export async function* onOneConnection<T>(
  withClient: <R>(fn: (client: PgClient) => Promise<R>) => Promise<R>,
  produce: (client: PgClient) => AsyncIterable<T>,
): AsyncGenerator<T> {
  let wanted: (() => void) | null = null;
  let offered: ((v: IteratorResult<T> | { error: unknown }) => void) | null = null;
  let stopped = false;
  const next = () =>
    new Promise<IteratorResult<T> | { error: unknown }>((resolve) => {
      offered = resolve;
      const w = wanted;
      wanted = null;
      w?.();
    });
  const waitForWant = () =>
    new Promise<void>((resolve) => {
      if (stopped || offered !== null) resolve();
      else wanted = resolve;
    });
  const offer = (v: IteratorResult<T> | { error: unknown }) => {
    const o = offered;
    offered = null;
    o!(v);
  };
  const producer = withClient(async (client) => {
    for await (const v of produce(client)) {
      await waitForWant();
      if (stopped) return;
      offer({ done: false, value: v });
    }
  }).then(
    async () => {
      await waitForWant();
      if (!stopped) offer({ done: true, value: undefined });
    },
    async (error: unknown) => {
      await waitForWant();
      if (!stopped) offer({ error });
    },
  );
  try {
    for (;;) {
      const r = await next();
      if ('error' in r) throw r.error;
      if (r.done === true) return;
      yield r.value;
    }
  } finally {
    stopped = true;
    const w = wanted as (() => void) | null;
    wanted = null;
    w?.();
    offered = null;
    await producer.catch(() => {});
  }
}

/**
 * Where column `name` is among `names`: exactly, else the one name that differs only in case (the
 * statement guard matched a key written `ID` to a column `id`, as SQLite would); -1 when none or several.
 */
function columnIndex(names: readonly string[], name: string): number {
  const exact = names.indexOf(name);
  if (exact >= 0) return exact;
  const like = names.flatMap((n, i) => (n.toLowerCase() === name.toLowerCase() ? [i] : []));
  return like.length === 1 ? like[0]! : -1;
}
