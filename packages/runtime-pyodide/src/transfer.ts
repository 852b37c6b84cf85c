import { move, transferableSymbol, valueSymbol } from 'piscina';

/**
 * Wrap `value` so piscina moves `buffers` (transfer list) instead of structured-cloning them. The
 * sender must not touch the buffers afterwards.
 */
export function moving<T extends object>(value: T, buffers: readonly ArrayBufferLike[]): T {
  if (buffers.length === 0) return value;
  const unique = [...new Set(buffers)] as ArrayBuffer[];
  const wrapped = {
    get [transferableSymbol](): ArrayBuffer[] {
      return unique;
    },
    get [valueSymbol](): T {
      return value;
    },
  };
  return move(wrapped as never) as unknown as T;
}
