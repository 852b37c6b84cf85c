// One engine process of the distributed benchmark: opens the database, serves distributed partitions and
// runs jobs until its stdin closes. Prints `ready ENGINE_ID` once its worker answered a call.
// Usage: node serving-engine.mjs DATABASE [OPTIONS_JSON]   (OPTIONS_JSON: createEngine options)
import { createEngine } from 'insitu';

const engine = await createEngine({
  database: process.argv[2],
  workers: 1,
  serve: { distributed: true },
  ...(process.argv[3] === undefined ? {} : JSON.parse(process.argv[3])),
});
await engine.session({ user: 'warmup' }).doEval({ source: 'def f():\n    return 1' });
process.stdout.write(`ready ${engine.jobs.engineId}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void engine.close({ jobs: 'wait' }).then(() => process.exit(0));
});
