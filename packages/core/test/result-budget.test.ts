import { describe, expect, it } from 'vitest';
import { tableFromArrays } from 'apache-arrow';
import { ResultBudget } from '../dist/result-budget.js';
import { DEFAULT_MAX_RESULT_BYTES_IN_FLIGHT, checkResultLimits } from '../dist/result-limits.js';
import { groupOutcomesBytes, jsonBytes, outcomeBytes, tableBytes } from '../dist/result-size.js';
import { asInsituError, withBoundary } from '../dist/error-boundary.js';
import { findNonJson } from '../dist/values.js';
import { InsituError } from '../dist/errors.js';
import type { TaskOutcome } from '../dist/runtime.js';

const MiB = 2 ** 20;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof InsituError ? e.code : `plain ${String(e)}`;
  }
  return undefined;
}

describe('ResultBudget', () => {
  it('defaults to 1 GiB', () => {
    expect(new ResultBudget().limit).toBe(2 ** 30);
    expect(DEFAULT_MAX_RESULT_BYTES_IN_FLIGHT).toBe(2 ** 30);
    expect(checkResultLimits({})).toEqual({ maxOutputBytes: 4 * MiB, maxResultBytes: 256 * MiB, maxResultBytesInFlight: 2 ** 30 });
  });

  it('shares one limit between calls, fails the call that would cross it, and frees what that call held', () => {
    const budget = new ResultBudget(10 * MiB);
    const a = budget.lease();
    const b = budget.lease();
    a.charge(4 * MiB);
    b.charge(3 * MiB);
    a.charge(2 * MiB);
    expect(budget.inFlight).toBe(9 * MiB);
    let err: unknown;
    try {
      b.charge(2 * MiB);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InsituError);
    expect((err as InsituError).code).toBe('RESULT_TOO_LARGE');
    expect((err as InsituError).message).toMatch(/maxResultBytesInFlight, 10485760 bytes \(10 MiB\)/);
    expect((err as InsituError).message).toMatch(/createEngine\(\{ maxResultBytesInFlight \}\)/);
    // b released its 3 MiB at once; its later results are not charged; a goes on.
    expect(budget.inFlight).toBe(6 * MiB);
    b.charge(5 * MiB);
    expect(budget.inFlight).toBe(6 * MiB);
    a.charge(4 * MiB);
    expect(budget.inFlight).toBe(10 * MiB);
    a.release();
    a.release();
    b.release();
    expect(budget.inFlight).toBe(0);
  });

  it('refuses a single result larger than the whole budget even when nothing else is held', () => {
    const budget = new ResultBudget(MiB);
    expect(codeOf(() => budget.lease().charge(MiB + 1))).toBe('RESULT_TOO_LARGE');
    expect(budget.inFlight).toBe(0);
    const exact = budget.lease();
    exact.charge(MiB);
    expect(exact.held).toBe(MiB);
  });
});

describe('result limits', () => {
  it('rejects limits that are not byte counts in range', () => {
    for (const bad of [{ maxOutputBytes: -1 }, { maxOutputBytes: 2 ** 30 }, { maxResultBytes: 0 }, { maxResultBytes: 1.5 }, { maxResultBytes: 2 ** 31 }, { maxResultBytesInFlight: '1' }]) {
      expect(codeOf(() => checkResultLimits(bad))).toBe('BAD_INPUT');
    }
    expect(checkResultLimits({ maxOutputBytes: 0, maxResultBytes: 1, maxResultBytesInFlight: 1 }).maxOutputBytes).toBe(0);
  });
});

describe('result sizes', () => {
  const outcome = (value: TaskOutcome['value'], stdout = '', stderr = ''): TaskOutcome => ({ value, stdout, stderr, images: [] });

  it('counts bytes, Arrow buffers (or the IPC bytes received), JSON text and output', () => {
    expect(outcomeBytes(outcome({ kind: 'bytes', value: new Uint8Array(1000) }, 'abc', 'de'))).toBe(1005);
    const table = tableFromArrays({ a: new Float64Array(1000), b: new Int32Array(1000) });
    expect(tableBytes(table)).toBeGreaterThanOrEqual(12_000);
    expect(outcomeBytes(outcome({ kind: 'table', table, ipc: new Uint8Array(777) }))).toBe(777);
    expect(outcomeBytes(outcome({ kind: 'table', table }))).toBe(tableBytes(table));
    const json = { rows: Array.from({ length: 100 }, (_, i) => ({ name: `row ${i}`, v: i })) };
    const estimate = jsonBytes(json);
    const text = JSON.stringify(json).length;
    expect(estimate).toBeGreaterThan(text * 0.7);
    expect(estimate).toBeLessThan(text * 1.5);
  });

  it('counts a table several groups share once', () => {
    const stack = tableFromArrays({ a: new Float64Array(10_000) });
    const groups = [0, 4000, 7000].map((offset, i, all) => ({
      key: { g: i },
      outcome: outcome({ kind: 'table', table: stack.slice(offset, all[i + 1] ?? 10_000), stacked: { table: stack, offset } }, 'x'),
    }));
    expect(groupOutcomesBytes(groups)).toBe(tableBytes(stack) + 3);
  });
});

describe('the error boundary', () => {
  it('keeps InsituErrors and turns anything else into a coded InsituError with its cause', async () => {
    const own = new InsituError('PRIVILEGE', 'no');
    expect(asInsituError(own, 'x')).toBe(own);
    const range = new RangeError('Invalid typed array length: -1');
    const wrapped = asInsituError(range, 'doEval');
    expect(wrapped.code).toBe('RUNTIME_ERROR');
    expect(wrapped.message).toBe('doEval failed unexpectedly: RangeError: Invalid typed array length: -1');
    expect(wrapped.cause).toBe(range);
    const sqlite = Object.assign(new Error('disk I/O error'), { name: 'SqliteError', code: 'SQLITE_IOERR' });
    expect(asInsituError(sqlite, 'pull').code).toBe('STORAGE_ERROR');
    expect(codeOf(() => withBoundary('sync', () => { throw new TypeError('boom'); }))).toBe('RUNTIME_ERROR');
    await expect(withBoundary('async', () => Promise.reject(new TypeError('boom')))).rejects.toMatchObject({ code: 'RUNTIME_ERROR' });
    expect(await withBoundary('fine', () => Promise.resolve(5))).toBe(5);
  });

  it('finds cycles and too deep nesting in JSON-able values instead of overflowing the stack', () => {
    const loop: Record<string, unknown> = { a: [1, 2] };
    loop['self'] = { back: loop };
    expect(findNonJson(loop, 'args')).toBe('args.self.back (a circular reference)');
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findNonJson(deep)).toMatch(/nested more than 500 levels deep/);
    const shared = { x: 1 };
    expect(findNonJson({ a: shared, b: [shared, shared] })).toBeNull();
  });
});
