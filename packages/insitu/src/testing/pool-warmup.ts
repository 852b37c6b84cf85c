/**
 * Importing `insitu/testing` starts the shared pool: its worker boots (snapshot restore) while the rest
 * of the helper and the test file load, so the first call waits for what is left of the boot only.
 * Imported first by index.ts, so the boot starts before the fixture loader is loaded; SQLite loads in
 * the background. A start that fails is reported by the first helper call, which gets the same failed
 * promise.
 */
import { sharedPool, sqliteAdapter } from './shared-pool.js';

sharedPool().catch(() => {});
// The helpers' databases need SQLite: it loads meanwhile, without holding up the import.
sqliteAdapter().catch(() => {});
