import type { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, SandboxRuntime, type Engine, type Session } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

/**
 * UDF attacks on the engine's memory through output and results, each shown blocked while the engine,
 * other users and other calls in flight go on. Default isolation (the sandbox process) and the default
 * maxOutputBytes (4 MiB); a small maxResultBytes and budget keep the result tests fast.
 */

const MiB = 2 ** 20;
const MAX_RESULT = 8 * MiB;
const BUDGET = 24 * MiB;

let engine: Engine;
let attacker: Session;
let other: Session;
const db = tempDatabase();

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2, maxResultBytes: MAX_RESULT, maxResultBytesInFlight: BUDGET });
  attacker = engine.session({ user: 'mallory' });
  other = engine.session({ user: 'alice' });
  await other.create('ROWS', Array.from({ length: 2000 }, (_, i) => ({ g: i % 4, v: i })));
  await other.grant({ table: 'ROWS', to: 'mallory' }); // the attacker reads it: the limits are what is tested
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

/** The sandbox process's pid: unchanged means it was not killed and restarted. */
const sandboxPid = () => (engine.runtime as SandboxRuntime).pid;

/** Another user's call that runs alongside the attack (it reads the database and sleeps a little). */
const bystander = () =>
  other.tableApply(other.table('ROWS'), { source: 'import time\ndef f(df):\n    time.sleep(0.2)\n    return {"n": [len(df)], "s": [sum(df["v"])]}' });

const expectBystander = (r: Awaited<ReturnType<typeof bystander>>) =>
  expect((r.value as Table).toArray().map((row) => row.toJSON())).toEqual([{ n: 2000, s: 1999000 }]);

const stillServing = async () => {
  expect((await other.doEval({ source: 'def f():\n    return "ok"' })).value).toBe('ok');
  expect(engine.resultBudget.inFlight).toBe(0);
};

const marker = (stream: string, dropped: number) =>
  `[insitu: ${stream} truncated: ${dropped} more bytes dropped after the first ${4 * MiB} (maxOutputBytes = ${4 * MiB})]\n`;

describe('output caps', () => {
  it('keeps 4 MiB of a UDF printing ~600 MB, with a marker, while the UDF runs on and another user is served', async () => {
    await stillServing();
    const pid = sandboxPid();
    const flood = 'def f():\n    line = "x" * 1_000_000\n    for i in range(600):\n        print(line)\n    return "finished"';
    const [attack, side] = await Promise.all([attacker.doEval({ source: flood }), bystander()]);
    expect(attack.value).toBe('finished');
    expect(attack.stdout.startsWith(`${'x'.repeat(1_000_000)}\n`.repeat(4))).toBe(true);
    expect(attack.stdout.endsWith(`\n${marker('stdout', 600 * 1_000_001 - 4 * MiB)}`)).toBe(true);
    expect(attack.stdout.length).toBe(4 * MiB + 1 + marker('stdout', 600 * 1_000_001 - 4 * MiB).length);
    expectBystander(side);
    expect(sandboxPid()).toBe(pid);
    await stillServing();
  });

  it('caps stderr likewise, a single ~600 MB write included, and counts bytes as UTF-8', async () => {
    const pid = sandboxPid();
    const one = 'import sys\ndef f():\n    sys.stderr.write("e" * 600_000_000)\n    print("after")\n    return 1';
    const [attack, side] = await Promise.all([attacker.doEval({ source: one }), bystander()]);
    expect(attack.value).toBe(1);
    expect(attack.stdout).toBe('after\n');
    expect(attack.stderr).toBe(`${'e'.repeat(4 * MiB)}\n${marker('stderr', 600_000_000 - 4 * MiB)}`);
    expectBystander(side);
    // 'é' takes two bytes: 4 MiB of them is 2 Mi characters; the cut never splits one.
    const wide = await attacker.doEval({ source: 'import sys\ndef f():\n    for i in range(10):\n        sys.stderr.write("é" * 500_001)' });
    expect(wide.stderr).toBe(`${'é'.repeat(2 * MiB)}\n${marker('stderr', 10 * 1_000_002 - 4 * MiB)}`);
    expect(sandboxPid()).toBe(pid);
    await stillServing();
  });

  it('drops output written to the file descriptors themselves instead of crashing the sandbox', async () => {
    const pid = sandboxPid();
    const raw = 'import os, sys\ndef f():\n    chunk = b"x" * 1_000_000\n    for i in range(600):\n        os.write(1, chunk)\n        os.write(2, chunk)\n    sys.__stdout__.write("y" * 1_000_000)\n    return "done"';
    const [attack, side] = await Promise.all([attacker.doEval({ source: raw }), bystander()]);
    expect(attack.value).toBe('done');
    expect(attack.stdout).toBe('');
    expectBystander(side);
    expect(sandboxPid()).toBe(pid);
  });

  it('caps the stdout an error carries and the error text itself', async () => {
    const e = await rejectsWith(attacker.doEval({ source: 'def f():\n    print("x" * 10_000_000)\n    raise ValueError("y" * 300_000_000)' }), 'PYTHON_ERROR');
    expect(e.stdout?.endsWith(marker('stdout', 10_000_001 - 4 * MiB))).toBe(true);
    expect(e.message.length).toBeLessThan(2 * MiB);
    expect(e.message).toMatch(/^ValueError: y+\n\[insitu: message truncated: \d+ more characters dropped\]/);
    expect(e.traceback!.length).toBeLessThan(2 * MiB);
    await stillServing();
  });
});

describe('result caps', () => {
  it('refuses a 1 GiB bytes result with RESULT_TOO_LARGE before it leaves Python; others are served', async () => {
    const pid = sandboxPid();
    const [attack, side] = await Promise.allSettled([attacker.doEval({ source: 'def f():\n    return b"x" * 2**30' }), bystander()]);
    expect(attack.status).toBe('rejected');
    const e = await rejectsWith(Promise.reject((attack as PromiseRejectedResult).reason), 'RESULT_TOO_LARGE');
    expect(e.message).toContain('bytes of length 1073741824 bytes (1024 MiB)');
    expect(e.message).toContain('maxResultBytes, 8388608 bytes (8 MiB)');
    expect(e.message).toContain('createEngine({ maxResultBytes })');
    expectBystander((side as PromiseFulfilledResult<Awaited<ReturnType<typeof bystander>>>).value);
    expect(sandboxPid()).toBe(pid);
    // Exactly at the limit is fine.
    expect(((await attacker.doEval({ source: `def f():\n    return b"x" * ${MAX_RESULT}` })).value as Uint8Array).byteLength).toBe(MAX_RESULT);
    await stillServing();
  });

  it('refuses JSON and table results over the limit, naming what was measured', async () => {
    const side = bystander();
    const json = await rejectsWith(attacker.doEval({ source: 'def f():\n    return ["x" * 1000] * 10_000' }), 'RESULT_TOO_LARGE');
    expect(json.message).toContain('JSON text of 10040000 bytes (9.6 MiB)');
    const table = await rejectsWith(attacker.doEval({ source: 'def f():\n    return {"a": [1.5] * 2_000_000}' }), 'RESULT_TOO_LARGE');
    expect(table.message).toContain('a table whose columns take 16000001 bytes (15.3 MiB)');
    const text = await rejectsWith(attacker.doEval({ source: 'def f():\n    return [{"s": "é" * 100, "i": i} for i in range(50_000)]' }), 'RESULT_TOO_LARGE');
    expect(text.message).toMatch(/a table whose columns take (at least )?\d+ bytes/);
    expectBystander(await side);
    await stillServing();
  });

  it('refuses one partition of a rowApply or one group of a groupApply over the limit, naming it', async () => {
    const rows = other.table('ROWS');
    const side = bystander();
    const row = await rejectsWith(
      attacker.rowApply(rows, { source: 'def f(df):\n    return {"v": [float(x) for x in df["v"]] * (4000 if df["v"][0] == 1000 else 1)}' }, { rows: 500, parallel: true }),
      'RESULT_TOO_LARGE',
    );
    expect(row.partition).toEqual({ chunk: 3, start: 1000, rows: 500 });
    // Groups read by the workers themselves: the large group fails inside a batch of stacked results.
    const big = 'def f(df):\n    return {"v": [1.5] * (2_000_000 if df["g"][0] == 2 else 10)}';
    const group = await rejectsWith(attacker.groupApply(rows, 'g', { source: big }, { parallel: true }), 'RESULT_TOO_LARGE');
    expect(group.partition).toEqual({ g: 2n });
    const fine = await attacker.groupApply(rows, 'g', { source: 'def f(df):\n    return {"n": [len(df)]}' });
    expect((fine.value as { numRows: number }).numRows).toBe(4);
    expectBystander(await side);
    await stillServing();
  });
});

describe('budget of result bytes in flight', () => {
  const sevenMiB = (fill: string) => ({ source: `def f(i):\n    return b"${fill}" * ${7 * MiB}` });

  it('fails the call that would take the engine past the budget and lets the others finish', async () => {
    // The attacker's call holds 3 x 7 MiB of the 24 MiB while its 4th partition still runs; bob's call,
    // made then, would take the engine past the budget with its first result: it fails and frees what it
    // held, the attacker's call and a small call of a third user go on.
    const pid = sandboxPid();
    const holding = attacker.indexApply(
      4,
      { source: `import time\ndef f(i):\n    if i == 4:\n        time.sleep(3)\n        return b"z"\n    return b"a" * ${7 * MiB}` },
      { parallel: true },
    );
    for (let i = 0; i < 300 && engine.resultBudget.inFlight < 21 * MiB; i++) await new Promise((r) => setTimeout(r, 50));
    expect(engine.resultBudget.inFlight).toBeGreaterThanOrEqual(21 * MiB);
    const [b, small] = await Promise.allSettled([
      engine.session({ user: 'bob' }).indexApply(3, sevenMiB('b'), { parallel: true }),
      other.doEval({ source: 'def f():\n    return b"c" * 1_000_000' }),
    ]);
    expect(b.status).toBe('rejected');
    const e = await rejectsWith(Promise.reject((b as PromiseRejectedResult).reason), 'RESULT_TOO_LARGE');
    expect(e.message).toContain('maxResultBytesInFlight, 25165824 bytes (24 MiB)');
    expect(e.message).toContain('createEngine({ maxResultBytesInFlight })');
    expect(small.status).toBe('fulfilled');
    const values = (await holding).value as Uint8Array[];
    expect(values.map((v) => v.byteLength)).toEqual([7 * MiB, 7 * MiB, 7 * MiB, 1]);
    expect(sandboxPid()).toBe(pid);
    // Everything was released: a call holding 21 MiB fits again.
    expect(engine.resultBudget.inFlight).toBe(0);
    await stillServing();
    expect((await attacker.indexApply(3, sevenMiB('d'), { parallel: true })).partitions).toHaveLength(3);
  });

  it('fails a single call whose results alone go past the budget, and one whose groups do', async () => {
    const e = await rejectsWith(attacker.indexApply(4, sevenMiB('e'), { parallel: true }), 'RESULT_TOO_LARGE');
    expect(e.message).toMatch(/this call held 22020096 bytes \(21 MiB\)/);
    const groups = await rejectsWith(
      attacker.groupApply(other.table('ROWS'), 'g', { source: `def f(df):\n    return b"g" * ${7 * MiB}` }),
      'RESULT_TOO_LARGE',
    );
    expect(groups.message).toMatch(/maxResultBytesInFlight/);
    await stillServing();
  });
});

describe('limit options', () => {
  it('refuses limits that are not byte counts in range, before starting anything', async () => {
    for (const bad of [{ maxOutputBytes: -1 }, { maxResultBytes: 0 }, { maxResultBytes: 2 ** 31 }, { maxResultBytesInFlight: 1.5 }]) {
      const e = await rejectsWith(createEngine({ database: ':memory:', workers: 1, ...bad }), 'BAD_INPUT');
      expect(e.message).toContain(Object.keys(bad)[0]!);
    }
  });
});
