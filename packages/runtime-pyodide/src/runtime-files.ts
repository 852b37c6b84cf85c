/**
 * Where a pool's code lives. Paths are computed here, in the package's own compiled files, because
 * bundled copies of the entries (see the `insitu` package) cannot find them relative to themselves.
 */
import { fileURLToPath } from 'node:url';

/** The files a runtime starts: its worker thread entry, its sandbox process entry, its Python package. */
export interface RuntimeFiles {
  /** Entry of each worker thread (a piscina task module). */
  readonly worker: string;
  /** Entry of the sandbox process. */
  readonly sandboxMain: string;
  /** Directory holding the Python package `insitu`. */
  readonly python: string;
}

/** This package's own compiled entries and Python package. */
export const PACKAGE_FILES: RuntimeFiles = Object.freeze({
  worker: fileURLToPath(new URL('./worker.js', import.meta.url)),
  sandboxMain: fileURLToPath(new URL('./sandbox-main.js', import.meta.url)),
  python: fileURLToPath(new URL('../python/', import.meta.url)),
});
