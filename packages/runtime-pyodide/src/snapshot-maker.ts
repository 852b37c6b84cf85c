/**
 * Worker thread entry that makes a start-up snapshot for the engine: it boots Pyodide plainly, loads
 * the `insitu` package and posts the snapshot's bytes back. It runs no user code, and it runs in the
 * engine's process, so the snapshot every sandboxed worker restores is never written by the sandbox.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { makeSnapshotBytes } from './pyodide-boot.js';

const { pythonDir, maxMemoryMb } = workerData as { pythonDir: string; maxMemoryMb: number };
// Emscripten takes the program name from argv[1] (this file's host path) and would keep it in the
// interpreter's memory, and so in the snapshot: give it none.
process.argv = [process.argv0];
const bytes = await makeSnapshotBytes(pythonDir, maxMemoryMb);
parentPort?.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
