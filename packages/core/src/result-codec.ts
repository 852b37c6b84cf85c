import { Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { InsituError, ErrorCode, deserializeError, type SerializedError } from './errors.js';
import { decodeScalar, encodeScalar, type JsonScalar } from './json-params.js';
import type { PartitionKey } from './partition.js';
import type { CellKey } from './partition-key.js';
import type { ApplyResult, PartitionResult, ResultValue } from './result-assembly.js';
import type { Image } from './runtime.js';
import { hasBytes, parseTree, treeToJson } from './result-tree.js';
import { callImages } from './result-assembly.js';
import type { JsonValue } from './values.js';
import type { IntoSummary } from './into-target.js';

/**
 * The one serialised form of an {@link ApplyResult}, for job results in storage now and HTTP next:
 *
 *   "ISR1" | header length (uint32 LE) | header (JSON, UTF-8) | blobs
 *
 * The header holds the JSON values, texts and partition keys; tables (Arrow IPC stream format), bytes
 * values and PNG images are blobs it points at by index. Whatever the call-level result repeats from
 * the partitions (a value that is one partition's, or the stack of all partitions' tables; stdout,
 * stderr and images that are the partitions' joined) is written once.
 */

const MAGIC = 'ISR1';

type EncodedValue =
  | { readonly t: 'json'; readonly v: JsonValue }
  /** JSON holding bytes: each `{ [BYTES_KEY]: i }` in `v` stands for blob `b[i]`. */
  | { readonly t: 'tree'; readonly v: JsonValue; readonly b: readonly number[] }
  | { readonly t: 'table'; readonly b: number }
  | { readonly t: 'bytes'; readonly b: number }
  /** `n` rows from row `s` of the call-level value (a table that stacks the partitions' tables). */
  | { readonly t: 'rows'; readonly s: number; readonly n: number };

type EncodedTop =
  | EncodedValue
  /** The value of partition `i`, itself. */
  | { readonly t: 'partition'; readonly i: number }
  /** One value per partition, each the partition's. */
  | { readonly t: 'partitions' }
  /** A list of values (tables, bytes or JSON) that are not the partitions' own. */
  | { readonly t: 'list'; readonly items: readonly EncodedValue[] };

type EncodedKey =
  | null
  | { readonly index: number }
  | { readonly chunk: number; readonly start: number; readonly rows: number }
  | { readonly group: Readonly<Record<string, JsonScalar>> };

/** An image of a partition: its PNG blob, its number and its title. */
interface EncodedImage {
  readonly b: number;
  readonly id: number;
  readonly title: string | null;
}

interface Header {
  readonly value: EncodedTop;
  /** A call with `into`: the table written (its value, the table's proxy, is rebuilt by who decodes). */
  readonly into?: IntoSummary;
  /** Null: the partitions' texts joined. */
  readonly stdout: string | null;
  readonly stderr: string | null;
  /** Null: the partitions' images in order (what the call-level list always is). */
  readonly images: null;
  readonly partitions: readonly {
    readonly key: EncodedKey;
    readonly value: EncodedValue;
    readonly stdout: string;
    readonly stderr: string;
    /** Each image's blob, number and title (a bare blob index in results stored before figures existed). */
    readonly images: readonly (EncodedImage | number)[];
    /** The engine that ran it (distributed calls only). */
    readonly engine?: string;
  }[];
  /** The failed partitions of a call with `onError` (absent for other calls). */
  readonly failed?: readonly { readonly key: EncodedKey; readonly error: SerializedError }[];
  /** [offset, length] of each blob, from the start of the blob area. */
  readonly blobs: readonly (readonly [number, number])[];
}

function sameSchema(a: Table, b: Table): boolean {
  const x = a.schema.fields;
  const y = b.schema.fields;
  return x.length === y.length && x.every((f, i) => f.name === y[i]!.name && String(f.type) === String(y[i]!.type));
}

function encodeKey(key: PartitionKey): EncodedKey {
  if (key === null) return null;
  if (typeof key === 'number') return { index: key };
  if ('chunk' in key && typeof key.chunk === 'number' && typeof key.start === 'number' && typeof key.rows === 'number') {
    return { chunk: key.chunk, start: key.start, rows: key.rows };
  }
  const group: Record<string, JsonScalar> = {};
  for (const [c, v] of Object.entries(key as Record<string, CellKey>)) group[c] = encodeScalar(v);
  return { group };
}

function decodeKey(k: EncodedKey): PartitionKey {
  if (k === null) return null;
  if ('index' in k) return k.index;
  if ('chunk' in k) return { chunk: k.chunk, start: k.start, rows: k.rows };
  const key: Record<string, CellKey> = {};
  for (const [c, v] of Object.entries(k.group)) key[c] = decodeScalar(v, 'a result key') as CellKey;
  return key;
}

/** An error's plain form without its partition key (a key may hold BigInts: it is encoded beside it). */
function withoutPartition(e: SerializedError): SerializedError {
  const { partition: _partition, ...rest } = e;
  return rest;
}

/** Serialise a result (see the module comment for the layout). */
export function encodeResult(result: ApplyResult): Uint8Array {
  const blobs: Uint8Array[] = [];
  const blob = (bytes: Uint8Array): number => blobs.push(bytes) - 1;
  const value = (v: ResultValue): EncodedValue => {
    if (v instanceof Table) return { t: 'table', b: blob(tableToIPC(v, 'stream')) };
    if (v instanceof Uint8Array) return { t: 'bytes', b: blob(v) };
    if (hasBytes(v)) {
      const inner: Uint8Array[] = [];
      const json = treeToJson(v, inner);
      return { t: 'tree', v: json, b: inner.map(blob) };
    }
    return { t: 'json', v: v as JsonValue };
  };
  const image = (im: Image): EncodedImage => ({ b: blob(im.png), id: im.id, title: im.title });
  const parts = result.partitions;
  const v = result.value;
  const tables = parts.map((p) => p.value).filter((x): x is Table => x instanceof Table);
  let top: EncodedTop;
  let partValue: (x: ResultValue, i: number) => EncodedValue = value;
  if (result.into !== undefined) {
    top = { t: 'json', v: null };
  } else if (parts.length === 1 && v === parts[0]!.value) {
    top = { t: 'partition', i: 0 };
  } else if (Array.isArray(v) && v.length === parts.length && v.every((x, i) => x === parts[i]!.value)) {
    top = { t: 'partitions' };
  } else if (
    v instanceof Table &&
    tables.length === parts.length &&
    tables.length > 0 &&
    tables.every((t) => sameSchema(t, v)) &&
    tables.reduce((n, t) => n + t.numRows, 0) === v.numRows
  ) {
    // The partitions' tables stacked: written once, each partition a row range of it.
    top = value(v);
    const starts = tables.map((_, i) => tables.slice(0, i).reduce((n, t) => n + t.numRows, 0));
    partValue = (_x, i) => ({ t: 'rows', s: starts[i]!, n: tables[i]!.numRows });
  } else if (Array.isArray(v) && v.some((x) => x instanceof Table || hasBytes(x))) {
    top = { t: 'list', items: v.map((x) => value(x as ResultValue)) };
  } else {
    top = value(v as ResultValue);
  }
  const partitions = parts.map((p, i) => ({ key: encodeKey(p.key), value: partValue(p.value, i), stdout: p.stdout, stderr: p.stderr, images: p.images.map(image), ...(p.engine === undefined ? {} : { engine: p.engine }) }));
  const header: Omit<Header, 'blobs'> = {
    value: top,
    ...(result.into === undefined ? {} : { into: result.into }),
    stdout: result.stdout === parts.map((p) => p.stdout).join('') ? null : result.stdout,
    stderr: result.stderr === parts.map((p) => p.stderr).join('') ? null : result.stderr,
    images: null,
    partitions,
    ...(result.failed === undefined ? {} : { failed: result.failed.map((f) => ({ key: encodeKey(f.key), error: withoutPartition(f.error.toJSON()) })) }),
  };
  const offsets: [number, number][] = [];
  let at = 0;
  for (const b of blobs) {
    offsets.push([at, b.byteLength]);
    at += b.byteLength;
  }
  const head = Buffer.from(JSON.stringify({ ...header, blobs: offsets }), 'utf8');
  const out = new Uint8Array(8 + head.byteLength + at);
  out.set(Buffer.from(MAGIC, 'latin1'), 0);
  new DataView(out.buffer).setUint32(4, head.byteLength, true);
  out.set(head, 8);
  let pos = 8 + head.byteLength;
  for (const b of blobs) {
    out.set(b, pos);
    pos += b.byteLength;
  }
  return out;
}

/**
 * Rebuild a result from {@link encodeResult}'s bytes. Anything else is STORAGE_ERROR. A result with
 * `into` comes back with `value` null (a table proxy needs a session: jobs put it back).
 */
export function decodeResult(bytes: Uint8Array): ApplyResult {
  try {
    if (bytes.byteLength < 8 || Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== MAGIC) throw new Error('not an insitu result');
    const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + len)).toString('utf8')) as Header;
    const base = 8 + len;
    const blob = (i: number): Uint8Array => {
      const [off, n] = header.blobs[i]!;
      return bytes.slice(base + off, base + off + n);
    };
    const top = header.value;
    let stack: Table | null = null;
    const value = (e: EncodedValue): ResultValue => {
      if (e.t === 'table') return tableFromIPC(blob(e.b));
      if (e.t === 'bytes') return blob(e.b);
      if (e.t === 'tree') return parseTree(JSON.stringify(e.v), e.b.map(blob));
      if (e.t === 'rows') {
        if (stack === null) throw new Error('a row range without a stacked table');
        return stack.slice(e.s, e.s + e.n);
      }
      return e.v;
    };
    if (top.t === 'table') stack = value(top) as Table;
    const image = (e: EncodedImage | number, i: number): Image =>
      typeof e === 'number' ? { id: i + 1, title: null, png: blob(e) } : { id: e.id, title: e.title, png: blob(e.b) };
    const partitions: PartitionResult[] = header.partitions.map((p) => ({
      key: decodeKey(p.key),
      value: value(p.value),
      stdout: p.stdout,
      stderr: p.stderr,
      images: p.images.map(image),
      ...(typeof p.engine === 'string' ? { engine: p.engine } : {}),
    }));
    let v: ResultValue | ResultValue[];
    if (top.t === 'partition') v = partitions[top.i]!.value;
    else if (top.t === 'partitions') v = partitions.map((p) => p.value);
    else if (top.t === 'list') v = top.items.map(value);
    else v = stack ?? value(top);
    return {
      value: v,
      stdout: header.stdout ?? partitions.map((p) => p.stdout).join(''),
      stderr: header.stderr ?? partitions.map((p) => p.stderr).join(''),
      images: callImages(partitions),
      partitions,
      ...(header.failed === undefined ? {} : { failed: header.failed.map((f) => ({ key: decodeKey(f.key), error: deserializeError({ ...f.error, partition: decodeKey(f.key) }) })) }),
      ...(header.into === undefined ? {} : { into: header.into }),
    };
  } catch (e) {
    throw new InsituError(ErrorCode.STORAGE_ERROR, `a stored result cannot be read: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
