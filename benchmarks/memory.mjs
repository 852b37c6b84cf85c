// Peak RSS of a rowApply (score UDF) over every row of DATA in the given database, in a new process.
import { createEngine } from 'insitu';
import { SCORE } from './workloads.mjs';

const engine = await createEngine({ database: process.argv[2], workers: 2 });
const me = engine.session();
const t = Date.now();
const r = await me.rowApply(me.table('DATA').select(['id', 'x1', 'x2', 'x3']), { source: SCORE }, { rows: Number(process.argv[3] ?? 100_000), parallel: true, inputType: 'frame' });
const ms = Date.now() - t;
const rows = r.value.numRows;
await engine.close();
console.log(JSON.stringify({ rows, ms, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
