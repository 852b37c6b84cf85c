/**
 * A hard cap on a worker interpreter's wasm heap. Pyodide's heap grows through one wasm import,
 * `emscripten_resize_heap`; wrapping it so growth past the cap fails makes `malloc` return NULL inside
 * the interpreter, which Python reports as MemoryError in the UDF instead of the thread (or the process)
 * running out of memory. Emscripten grows the heap in steps of up to 20% beyond what was asked for; near
 * the cap the step is cut so the heap ends at the cap exactly.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { loadPyodide } from 'pyodide';
import { instantiateWith } from './shared-wasm.js';

type ModuleFactory = NonNullable<NonNullable<Parameters<typeof loadPyodide>[0]>['createPyodideModule']>;

/** The parts of Emscripten's module settings (which become the module object) used here. */
interface HeapModule {
  instantiateWasm?: (imports: { env: Record<string, unknown> }, done: (...args: unknown[]) => void) => unknown;
  HEAPU8?: Uint8Array;
  growMemory?: (size: number) => number | undefined;
}

const WASM_PAGE = 65536;
/** Emscripten never grows by more than this beyond the request (its default MEMORY_GROWTH_GEOMETRIC_CAP). */
const GROWTH_STEP_CAP = 96 * 1024 * 1024;

/**
 * Pyodide's module factory, wrapped so the heap stays within `maxMemoryMb` MiB. Pass the result to
 * `loadPyodide({ createPyodideModule })`; it works with plain boots and snapshot restores alike.
 * With `compiled`, the binary is instantiated from that module when it resolves to one (see shared-wasm.ts).
 */
export async function cappedModuleFactory(maxMemoryMb: number, compiled?: Promise<WebAssembly.Module | null>): Promise<ModuleFactory> {
  const pyodideDir = dirname(createRequire(import.meta.url).resolve('pyodide'));
  const { default: create } = (await import(pathToFileURL(join(pyodideDir, 'pyodide.asm.mjs')).href)) as { default: ModuleFactory };
  const cap = Math.floor((maxMemoryMb * 1024 * 1024) / WASM_PAGE) * WASM_PAGE;
  return (settings) => {
    const mod = settings as unknown as HeapModule;
    const instantiate = mod.instantiateWasm;
    if (instantiate === undefined) throw new Error('Pyodide no longer instantiates wasm through instantiateWasm; the heap cap cannot be applied');
    mod.instantiateWasm = (imports, done) => {
      const grow = imports.env['emscripten_resize_heap'] as (requested: number) => number | boolean;
      imports.env['emscripten_resize_heap'] = (requested: number): number | boolean => {
        const want = requested >>> 0;
        if (want > cap) return 0;
        const current = mod.HEAPU8?.length ?? 0;
        const stepped = Math.min(current * 1.2, want + GROWTH_STEP_CAP);
        if (stepped <= cap || mod.growMemory === undefined) return grow(requested);
        return mod.growMemory(cap) === 1 ? 1 : 0;
      };
      if (compiled !== undefined) instantiateWith(compiled);
      return instantiate(imports, done);
    };
    return create(settings);
  };
}
