/**
 * insitu/testing: test Python UDFs with vitest (or any runner) without a database of your own.
 *
 * ```ts
 * import { loadUdf, loadCsv } from 'insitu/testing';
 * const score = await loadUdf(new URL('./score.py', import.meta.url));
 * const r = await score.rows(loadCsv(new URL('./fixtures/iris.csv', import.meta.url)), { rows: 50 });
 * ```
 */
// First: the shared pool's worker starts booting before the other modules load.
import './pool-warmup.js';

export { loadUdf } from './load-udf.js';
export type { LoadUdfOptions, LoadedUdf, UdfArgs, UdfData } from './load-udf.js';
export { loadCsv } from './csv-fixture.js';
export type { LoadCsvOptions } from './csv-fixture.js';
export { closeTestPool } from './shared-pool.js';
