import { ErrorCode, InsituError } from '@insitu/core';

/** Default cap on each worker interpreter's wasm heap, in MiB. */
export const DEFAULT_MAX_MEMORY_MB = 2048;
/** Default heap size, in MiB, past which a worker is replaced after its call. */
export const DEFAULT_RECYCLE_HEAP_MB = 1024;
/** Smallest cap accepted: a started interpreter with the `insitu` package uses about 30 MiB. */
const MIN_MEMORY_MB = 128;
/** wasm32 addresses at most 4 GiB. */
const MAX_MEMORY_MB = 4095;

/** A worker pool's memory settings, validated. */
export interface MemoryLimits {
  /** Hard cap on each interpreter's heap (MiB): allocations past it raise MemoryError in the UDF. */
  readonly maxMemoryMb: number;
  /** Heap size (MiB) past which a worker is replaced after its call (wasm memory never shrinks). */
  readonly recycleHeapMb: number;
}

/** Validate `maxMemoryMb` and `recycleHeapMb` and fill in their defaults. */
export function checkMemoryLimits(opts: { readonly maxMemoryMb?: number; readonly recycleHeapMb?: number }): MemoryLimits {
  const maxMemoryMb = opts.maxMemoryMb ?? DEFAULT_MAX_MEMORY_MB;
  if (!Number.isSafeInteger(maxMemoryMb) || maxMemoryMb < MIN_MEMORY_MB || maxMemoryMb > MAX_MEMORY_MB) {
    throw new InsituError(
      ErrorCode.BAD_INPUT,
      `maxMemoryMb must be an integer from ${MIN_MEMORY_MB} to ${MAX_MEMORY_MB} (MiB per worker), got ${String(maxMemoryMb)}`,
    );
  }
  const recycleHeapMb = opts.recycleHeapMb ?? Math.min(DEFAULT_RECYCLE_HEAP_MB, maxMemoryMb);
  if (typeof recycleHeapMb !== 'number' || !(recycleHeapMb > 0)) {
    throw new InsituError(ErrorCode.BAD_INPUT, `recycleHeapMb must be a positive number of MiB, got ${String(recycleHeapMb)}`);
  }
  return { maxMemoryMb, recycleHeapMb };
}
