import { createEngine } from 'insitu';
const iso = process.argv[2] ?? 'thread';
const engine = await createEngine({ database: ':memory:', workers: 2, isolation: iso });
const me = engine.session();
const f = { source: 'def f():\n    return 1' };
for (let i = 0; i < 300; i++) await me.doEval(f);
const times = [];
for (let i = 0; i < 3000; i++) { const t = performance.now(); await me.doEval(f); times.push(performance.now() - t); }
times.sort((a, b) => a - b);
console.log(iso, 'p50', times[1500].toFixed(3), 'p90', times[2700].toFixed(3), 'p99', times[2970].toFixed(3));
await engine.close();
