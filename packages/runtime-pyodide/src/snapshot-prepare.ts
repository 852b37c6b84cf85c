/**
 * The engine's side of start-up snapshots: find the current one, or make it in a worker thread of the
 * engine's own process (about 2 s, once per Pyodide build and `insitu` Python package).
 */
import { Worker } from 'node:worker_threads';
import { recordedSnapshot, snapshotPath, storeSnapshot, type PreparedSnapshot } from './snapshot-cache.js';

/**
 * The snapshot for `pythonDir` in `dir`, made now if there is none (or its record does not match the
 * file). Null when it cannot be made: workers then boot plainly.
 */
export async function prepareSnapshot(dir: string, pythonDir: string, maxMemoryMb: number): Promise<PreparedSnapshot | null> {
  const path = snapshotPath(dir, pythonDir);
  const found = recordedSnapshot(path);
  if (found !== null) return found;
  try {
    const worker = new Worker(new URL('./snapshot-maker.js', import.meta.url), { workerData: { pythonDir, maxMemoryMb } });
    const bytes = await new Promise<Uint8Array>((resolve, reject) => {
      worker.once('message', (m: Uint8Array) => resolve(m));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the snapshot maker exited (${code})`)));
    });
    void worker.terminate();
    return storeSnapshot(path, dir, bytes);
  } catch {
    return null;
  }
}
