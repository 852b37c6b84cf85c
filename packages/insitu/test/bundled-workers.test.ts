import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '@insitu/core';
import { SqliteStorage } from '@insitu/adapters';
import { PyodideRuntime, SandboxRuntime } from '@insitu/runtime-pyodide';
import { describe, expect, it } from 'vitest';
import { bundledWorkers } from '../src/bundled-workers.js';
import { tempDatabase } from '../../../test/helpers.js';

describe('bundled worker entries', () => {
  it('are built by the build step and used while fresh', () => {
    // The test command builds first, so the engine's workers start from the bundle in this run.
    const b = bundledWorkers(fileURLToPath(new URL('../dist/workers/', import.meta.url)));
    expect(b).not.toBeNull();
    expect(b!.worker).toMatch(/dist[\\/]workers[\\/]worker\.js$/);
    expect(b!.context).toMatch(/^file:.*sqlite-context\.js$/);
  });

  it('are ignored when missing, incomplete or older than a module they were built from, and used in an installed package', () => {
    const tmp = tempDatabase();
    try {
      const dir = join(tmp.dir, 'workers');
      const src = join(tmp.dir, 'src.js');
      mkdirSync(dir);
      expect(bundledWorkers(dir)).toBeNull();
      writeFileSync(src, '');
      for (const f of ['worker.js', 'sandbox-main.js']) writeFileSync(join(dir, f), '');
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ inputs: ['../src.js'] }));
      const past = new Date(Date.now() - 60_000);
      utimesSync(src, past, past);
      expect(bundledWorkers(dir)).toBeNull(); // no context entry
      writeFileSync(join(dir, 'sqlite-context.js'), '');
      expect(bundledWorkers(dir)?.sandboxMain).toBe(join(dir, 'sandbox-main.js'));
      const future = new Date(Date.now() + 60_000);
      utimesSync(src, future, future); // rebuilt by tsc after bundling
      expect(bundledWorkers(dir)).toBeNull();
      utimesSync(src, past, past);
      // One input gone while another is there: stale.
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ inputs: ['../src.js', '../gone.js'] }));
      expect(bundledWorkers(dir)).toBeNull();
      // None of them there: an installed package, whose bundle was built before packing.
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ inputs: ['../gone.js', '../also-gone.js'] }));
      expect(bundledWorkers(dir)?.worker).toBe(join(dir, 'worker.js'));
    } finally {
      tmp.cleanup();
    }
  });

  it('are not needed: the packages own entries run the same UDFs over table data in both isolation modes', async () => {
    const tmp = tempDatabase();
    try {
      for (const Runtime of [PyodideRuntime, SandboxRuntime]) {
        const storage = new SqliteStorage(tmp.path);
        const runtime = new Runtime({ workers: 1, context: { module: import.meta.resolve('@insitu/adapters/sqlite-context'), database: tmp.path } });
        const engine = new Engine(storage, runtime);
        try {
          const me = engine.session();
          const t = await me.create(`T_${Runtime.name}`, [{ x: 1 }, { x: 2 }, { x: 3 }]);
          const r = await me.tableApply(t, { source: 'import insitu\ndef f(df, name):\n    return sum(df["x"]) + insitu.connect().query("select count(*) as n from T_%s" % name)["n"][0]' }, { args: { name: Runtime.name } });
          expect(r.value).toBe(9);
        } finally {
          await engine.close();
        }
      }
    } finally {
      tmp.cleanup();
    }
  });
});
