// insitu/testing: a UDF file tested as its author would, with the engine's result shape, the file's
// own path and lines in Python errors, print output per call, CSV fixtures, stored scripts.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from 'insitu';
import { loadCsv, loadUdf } from 'insitu/testing';
import { rejectsWith, tempDatabase } from './helpers.js';

describe('insitu/testing', () => {
  const dir = tempDatabase();
  const file = join(dir.dir, 'udfs.py');
  let engine: Engine;

  beforeAll(async () => {
    writeFileSync(
      file,
      [
        'def udfs(df, k=1):',
        '    print("rows:", len(df))',
        '    return {"x2": [x * k for x in df["x"]]}',
        '',
        'def fails(df):',
        '    y = 1',
        '    return {"y": [1 / 0]}',
        '',
        'def hello(name="world"):',
        '    print("hi")',
        '    return f"hello {name}"',
        '',
        'def square(i):',
        '    return i * i',
        '',
      ].join('\n'),
    );
    engine = await createEngine({ database: dir.path, workers: 1, isolation: 'thread' });
    await engine.session({ user: 'ann' }).scripts.create('stored_double', 'def stored_double(df):\n    return {"d": [v * 2 for v in df["x"]]}');
  });
  afterAll(async () => {
    await engine?.close();
    dir.cleanup();
  });

  it('table, rows, groups, eval and index give the engine apply calls their results, print output per call', async () => {
    const udf = await loadUdf(file);
    const t = await udf.table([{ x: 1 }, { x: 2 }, { x: 3 }], { k: 10 });
    expect((t.value as Table).toArray().map((r) => Number(r.x2))).toEqual([10, 20, 30]);
    expect(t.stdout).toBe('rows: 3\n');
    const r = await udf.rows([{ x: 1 }, { x: 2 }, { x: 3 }], { rows: 2 });
    expect(r.partitions.map((p) => [p.key, p.stdout])).toEqual([
      [{ chunk: 1, start: 0, rows: 2 }, 'rows: 2\n'],
      [{ chunk: 2, start: 2, rows: 1 }, 'rows: 1\n'],
    ]);
    const g = await udf.groups([{ g: 'b', x: 1 }, { g: 'a', x: 2 }, { g: 'b', x: 3 }], 'g');
    expect((g.value as Table).toArray().map((row) => [row.g, Number(row.x2)])).toEqual([['a', 2], ['b', 1], ['b', 3]]);
    const hello = await loadUdf(file, { function: 'hello' });
    const e = await hello.eval({ name: 'tests' });
    expect([e.value, e.stdout]).toEqual(['hello tests', 'hi\n']);
    const sq = await loadUdf(file, { function: 'square' });
    expect((await sq.index(3)).value).toEqual([1, 4, 9]);
  });

  it("a Python error names the file and its lines, and the engine goes on serving", async () => {
    const udf = await loadUdf(file, { function: 'fails' });
    const e = await rejectsWith(udf.table([{ x: 1 }]), 'PYTHON_ERROR');
    expect(e.traceback).toContain(`File "${file}", line 7, in fails`);
    expect(e.pythonType).toBe('ZeroDivisionError');
    expect(e.message).toContain(file);
    expect((await (await loadUdf(file)).table([{ x: 4 }])).stdout).toBe('rows: 1\n');
  });

  it('loadCsv reads fixtures with numbers as numbers; a stored script of an engine loads by name', async () => {
    const iris = loadCsv(new URL('../demo/iris.csv', import.meta.url));
    expect(iris).toHaveLength(150);
    expect(typeof iris[0]!.PETAL_WIDTH).toBe('number');
    expect(typeof iris[0]!.SPECIES).toBe('string');
    const stored = await loadUdf('stored_double', { engine, user: 'ann' });
    expect((((await stored.table([{ x: 21 }])).value) as Table).toArray()[0]!.d).toBe(42);
    await rejectsWith(loadUdf('stored_double', { engine, user: 'bob' }), 'SCRIPT_NOT_FOUND');
    await rejectsWith(loadUdf(join(dir.dir, 'missing.py')), 'BAD_INPUT');
  });

  it('importing insitu/testing loads neither the REST server nor SQLite, and a process that only imports it exits', async () => {
    // The import starts the shared pool's worker; it must not hold the process open once nothing else does.
    const probe = [
      "import { createRequire } from 'node:module';",
      "await import('insitu/testing');",
      'const loaded = Object.keys(createRequire(import.meta.url).cache);',
      "console.log(JSON.stringify(['fastify', 'better-sqlite3', 'piscina'].filter((p) => loaded.some((f) => f.includes(`/node_modules/${p}/`)))));",
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', probe], { timeout: 60_000 });
    // piscina (the pool itself) shows the probe sees CommonJS packages the import loaded.
    expect(JSON.parse(stdout.trim())).toEqual(['piscina']);
  });
});
