/**
 * The bundled worker, sandbox and context entries that `pnpm build` writes to dist/workers/ (see
 * scripts/bundle-workers.mjs), used while they are up to date.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Paths of the bundled entries. */
export interface BundledWorkers {
  /** Worker thread entry. */
  readonly worker: string;
  /** Sandbox process entry. */
  readonly sandboxMain: string;
  /** SQLite context module, as a file URL (it is imported by URL in the workers). */
  readonly context: string;
}

const DEFAULT_DIR = fileURLToPath(new URL('./workers/', import.meta.url));

/**
 * The bundle in `dir`, or null when there is none or when any module it was built from has changed
 * since (for example after a `tsc` rebuild without the bundling step) or is gone while others are
 * there: then the unbundled entries run. An installed package has none of them, and uses its bundle.
 */
export function bundledWorkers(dir: string = DEFAULT_DIR): BundledWorkers | null {
  try {
    const manifest = join(dir, 'manifest.json');
    const builtAt = statSync(manifest).mtimeMs;
    const { inputs } = JSON.parse(readFileSync(manifest, 'utf8')) as { inputs: string[] };
    if (!Array.isArray(inputs) || inputs.length === 0) return null;
    // In an installed package none of the inputs is there (the bundle was built before packing, from the
    // exact versions its package depends on); in the repository each must be older than the bundle.
    const times = inputs.map((input) => statSync(join(dir, input), { throwIfNoEntry: false })?.mtimeMs);
    if (times.some((t) => t === undefined) && !times.every((t) => t === undefined)) return null;
    if (times.some((t) => t !== undefined && t > builtAt)) return null;
    const worker = join(dir, 'worker.js');
    const sandboxMain = join(dir, 'sandbox-main.js');
    const context = join(dir, 'sqlite-context.js');
    for (const f of [worker, sandboxMain, context]) statSync(f);
    return { worker, sandboxMain, context: pathToFileURL(context).href };
  } catch {
    return null;
  }
}
