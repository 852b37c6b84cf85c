// Peak RSS of a rowApply (score UDF) over every row of DATA in the given database, in a new process.
// Arguments: database, chunk rows, mode (see sandbox-modes.mjs), snapshot directory, and `into` to
// write the scores back into table SCORED (replaced) instead of returning them. In the process
// modes the workers live in the sandbox process (under bubblewrap by default): the peaks of the
// engine's children and their descendants are added.
import { createEngine } from 'insitu';
import { peakRssTree } from './process-tree.mjs';
import { MODES } from './sandbox-modes.mjs';
import { SCORE } from './workloads.mjs';

const mode = process.argv[4] ?? 'bubblewrap';
const engine = await createEngine({ database: process.argv[2], workers: 2, snapshotDir: process.argv[5], ...MODES[mode].options });
const me = engine.session();
const t = Date.now();
const into = process.argv[6] === 'into' ? { into: { table: 'SCORED', mode: 'replace' } } : {};
const r = await me.rowApply(me.table('DATA').select(['id', 'x1', 'x2', 'x3']), { source: SCORE }, { rows: Number(process.argv[3] ?? 100_000), parallel: true, inputType: 'frame', ...into });
const ms = Date.now() - t;
const rows = r.into?.rows ?? r.value.numRows;
const pid = engine.runtime.pid;
const children = pid === undefined ? [] : peakRssTree(pid);
const childPeakMb = children.reduce((a, c) => a + c.peakMb, 0);
await engine.close();
// VmHWM, not getrusage's maxRSS: Linux carries maxRSS over fork and exec, so a child of a large
// process (the benchmark runner) would report at least the runner's size.
const ownPeakMb = peakRssTree(process.pid)[0].peakMb;
console.log(JSON.stringify({ rows, ms, mode, into: r.into !== undefined, ownPeakMb, childPeakMb, children, maxRssMb: ownPeakMb + childPeakMb }));
