import type { JsonValue } from './values.js';

/**
 * A plain value a UDF returned: JSON, with bytes allowed anywhere in it (a list of PNGs comes back as
 * an array of Uint8Array).
 */
export type ResultTree = null | boolean | number | string | Uint8Array | ResultTree[] | { [key: string]: ResultTree };

/** The key of the object that stands for bytes in the JSON text of a {@link ResultTree} (its value: the blob's index). */
export const BYTES_KEY = '\u0000bytes';

/** Whether `v` holds bytes anywhere. */
export function hasBytes(v: unknown): boolean {
  if (v instanceof Uint8Array) return true;
  if (Array.isArray(v)) return v.some(hasBytes);
  if (v !== null && typeof v === 'object') return Object.values(v).some(hasBytes);
  return false;
}

/** Set `out[k]` as an own property, also for the key `__proto__` (which a UDF may return). */
function put(out: Record<string, JsonValue>, k: string, v: JsonValue): void {
  Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** `v` as JSON with each bytes value replaced by `{ [BYTES_KEY]: i }`, its bytes pushed onto `blobs`. */
export function treeToJson(v: ResultTree, blobs: Uint8Array[]): JsonValue {
  if (v instanceof Uint8Array) return { [BYTES_KEY]: blobs.push(v) - 1 };
  if (Array.isArray(v)) return v.map((x) => treeToJson(x, blobs));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [k, x] of Object.entries(v)) put(out, k, treeToJson(x, blobs));
    return out;
  }
  return v;
}

/** Parse JSON text whose `{ [BYTES_KEY]: i }` objects stand for `blobs[i]`. */
export function parseTree(text: string, blobs: readonly Uint8Array[]): ResultTree {
  if (blobs.length === 0) return JSON.parse(text) as ResultTree;
  return JSON.parse(text, (_k, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const keys = Object.keys(value);
      const i = (value as Record<string, unknown>)[BYTES_KEY];
      if (keys.length === 1 && typeof i === 'number' && blobs[i] !== undefined) return blobs[i];
    }
    return value;
  }) as ResultTree;
}

/** `v` with every bytes value replaced by `f(bytes)` (REST answers give base64 text). */
export function mapBytes(v: ResultTree, f: (bytes: Uint8Array) => JsonValue): JsonValue {
  if (!hasBytes(v)) return v as JsonValue;
  if (v instanceof Uint8Array) return f(v);
  if (Array.isArray(v)) return v.map((x) => mapBytes(x, f));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [k, x] of Object.entries(v)) put(out, k, mapBytes(x, f));
    return out;
  }
  return v;
}
