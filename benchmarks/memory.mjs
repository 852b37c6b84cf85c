// Peak RSS of a rowApply (score UDF) over every row of DATA in the given database, in a new process.
// With the default isolation the workers live in the sandbox process: its peak (VmHWM) is added.
import { readFileSync } from 'node:fs';
import { createEngine } from 'insitu';
import { SCORE } from './workloads.mjs';

const isolation = process.argv[4] ?? 'process';
const engine = await createEngine({ database: process.argv[2], workers: 2, isolation });
const me = engine.session();
const t = Date.now();
const r = await me.rowApply(me.table('DATA').select(['id', 'x1', 'x2', 'x3']), { source: SCORE }, { rows: Number(process.argv[3] ?? 100_000), parallel: true, inputType: 'frame' });
const ms = Date.now() - t;
const rows = r.value.numRows;
const pid = engine.runtime.pid;
const childPeakMb = pid === undefined ? 0 : Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
await engine.close();
const ownPeakMb = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify({ rows, ms, isolation, ownPeakMb, childPeakMb, maxRssMb: ownPeakMb + childPeakMb }));
