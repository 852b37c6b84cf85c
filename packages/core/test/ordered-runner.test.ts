import { describe, expect, it } from 'vitest';
import { runOrdered } from '../dist/ordered-runner.js';
import { degreeOf } from '../dist/apply-options.js';
import { checkIdentifier } from '../dist/identifiers.js';
import { InsituError } from '../dist/errors.js';

async function* counted(n: number, pulled: number[]): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    pulled.push(i);
    yield i;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runOrdered', () => {
  it('returns results in item order even when later items finish first', async () => {
    const finished: number[] = [];
    const out = await runOrdered(counted(6, []), 3, async (x) => {
      await sleep((6 - x) * 5);
      finished.push(x);
      return x * 10;
    });
    expect(out).toEqual([0, 10, 20, 30, 40, 50]);
    expect(finished).not.toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('never has more than `degree` calls in flight and pulls items only when a slot frees', async () => {
    let inFlight = 0;
    let peak = 0;
    const pulled: number[] = [];
    await runOrdered(counted(10, pulled), 2, async (x) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      expect(pulled.length).toBeLessThanOrEqual(x + 2);
      await sleep(2);
      inFlight--;
      return x;
    });
    expect(peak).toBe(2);
  });

  it('stops starting items after a failure and throws the earliest failure', async () => {
    const started: number[] = [];
    const err = await runOrdered(counted(100, []), 2, async (x) => {
      started.push(x);
      await sleep(1);
      if (x === 3 || x === 4) throw new Error(`boom ${x}`);
      return x;
    }).catch((e: Error) => e);
    expect((err as Error).message).toBe('boom 3');
    expect(started.length).toBeLessThan(10);
  });

  it('does not start anything once the signal is aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    const started: number[] = [];
    const err = await runOrdered(counted(5, []), 2, async (x) => started.push(x), ac.signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsituError);
    expect((err as InsituError).code).toBe('CANCELLED');
    expect(started).toEqual([]);
  });
});

describe('degreeOf', () => {
  it('maps parallel options to a degree capped at the worker count', () => {
    expect(degreeOf(undefined, 4)).toBe(1);
    expect(degreeOf(false, 4)).toBe(1);
    expect(degreeOf(0, 4)).toBe(1);
    expect(degreeOf(true, 4)).toBe(4);
    expect(degreeOf(2, 4)).toBe(2);
    expect(degreeOf(9, 4)).toBe(4);
    expect(() => degreeOf(-1, 4)).toThrow(/positive integer/);
    expect(() => degreeOf('2', 4)).toThrow(/positive integer/);
  });
});

describe('checkIdentifier', () => {
  it('accepts plain names and refuses anything that could escape quoting', () => {
    expect(checkIdentifier('IRIS_2', 'table')).toBe('IRIS_2');
    for (const bad of ['a"b', 'a;drop', "x'", 'a b', 'a\u0000b', '', 'x'.repeat(129), '1abc', 'café', 'insitu_scripts', 'sqlite_master']) {
      expect(() => checkIdentifier(bad, 'table'), bad).toThrow(InsituError);
    }
    expect(checkIdentifier('insitu_col', 'column', { reservedPrefixes: false })).toBe('insitu_col');
    expect(() => checkIdentifier(42, 'table')).toThrow(/must be a string/);
  });
});
