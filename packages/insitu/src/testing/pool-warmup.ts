/**
 * Importing `insitu/testing` starts the shared pool: its worker boots (snapshot restore) while the rest
 * of the helper and the test file load, so the first call waits for what is left of the boot only.
 * Imported first by index.ts, so the boot starts before SQLite and the fixture loader are loaded. A
 * start that fails is reported by the first helper call, which gets the same failed promise.
 */
import { sharedPool } from './shared-pool.js';

sharedPool().catch(() => {});
