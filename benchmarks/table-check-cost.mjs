// What the per-table privilege check costs a worker-read rowApply: 1M rows in 10k-row chunks, each
// chunk read column by column (one checked statement per column). Times the statement guard with and
// without the check on exactly the statements the workers run, then one end-to-end rowApply.
// Run: pnpm build && node benchmarks/table-check-cost.mjs
import { createEngine } from 'insitu';
import { SqliteStorage } from '@insitu/adapters';
import Database from 'better-sqlite3';
import { fileURLToPath } from 'node:url';
import { generate } from './generate.mjs';
import { SCORE } from './workloads.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const guardUrl = new URL('../packages/adapters/dist/sqlite/sqlite-statement-guard.js', import.meta.url);
const accessUrl = new URL('../packages/adapters/dist/sqlite/sqlite-table-access.js', import.meta.url);
const privUrl = new URL('../packages/adapters/dist/sqlite/sqlite-table-privileges.js', import.meta.url);
const { prepareGuarded } = await import(guardUrl.href);
const { SqliteTableAccess } = await import(accessUrl.href);
const { SqliteTablePrivileges } = await import(privUrl.href);

const ROWS = 1_000_000;
const CHUNK = 10_000;
const path = generate(here(`./out/data-v2-${ROWS}.db`), ROWS);
// Migrate the file (owner tables) as an engine would.
await new SqliteStorage(path).close();

const storage = new SqliteStorage(path);
const chunks = [];
for await (const c of await storage.splitScan({ table: 'DATA', columns: ['id', 'x1', 'x2', 'x3'], filters: [] }, CHUNK, 'bench')) chunks.push(c);
await storage.close();
const statements = chunks.flatMap((c) => c.query.byColumn.map((sql) => ({ sql, params: c.query.params })));

const db = new Database(path, { readonly: true });
const as = { access: new SqliteTableAccess(db, new SqliteTablePrivileges(db, 'read')), user: 'bench' };
const time = (withCheck) => {
  const t = performance.now();
  for (const s of statements) prepareGuarded(db, s.sql, s.params, 'query', withCheck ? as : undefined);
  return performance.now() - t;
};
for (let i = 0; i < 3; i++) time(true), time(false); // warm
const runs = { without: [], with: [] };
for (let i = 0; i < 7; i++) {
  runs.without.push(time(false));
  runs.with.push(time(true));
}
db.close();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const w = median(runs.with);
const wo = median(runs.without);
console.log(`${chunks.length} chunks, ${statements.length} checked statements`);
console.log(`guard without the table check: ${wo.toFixed(1)} ms (${((wo / statements.length) * 1000).toFixed(0)} µs/statement)`);
console.log(`guard with the table check:    ${w.toFixed(1)} ms (${((w / statements.length) * 1000).toFixed(0)} µs/statement)`);
console.log(`the check adds ${(w - wo).toFixed(1)} ms per 1M-row rowApply (${(((w - wo) / statements.length) * 1000).toFixed(0)} µs/statement)`);

const engine = await createEngine({ database: path, workers: 2 });
try {
  const me = engine.session({ user: 'bench' });
  const e2e = [];
  for (let i = 0; i < 4; i++) {
    const t = performance.now();
    const r = await me.rowApply(me.table('DATA').select(['id', 'x1', 'x2', 'x3']), { source: SCORE }, { rows: CHUNK, parallel: true, inputType: 'frame' });
    if (r.value.numRows !== ROWS) throw new Error('wrong row count');
    e2e.push(performance.now() - t);
  }
  console.log(`end-to-end rowApply (score UDF, 2 workers): ${e2e.map((x) => x.toFixed(0)).join(', ')} ms (first run warms the workers)`);
} finally {
  await engine.close();
}
