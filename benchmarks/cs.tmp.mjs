console.error('T process start', Date.now() - performance.now());
const { createEngine } = await import('insitu');
console.error('T imported', Date.now());
const engine = await createEngine({ database: process.argv[2], workers: 2, isolation: process.argv[3] ?? 'process' });
console.error('T created', Date.now());
const r = await engine.session().doEval({ source: 'def f():\n    return 1' });
console.error('T first result', Date.now());
const t = Date.now();
await engine.close();
