import { describe, expect, it } from 'vitest';
import { checkSchedule, decodeSchedule, encodeSchedule, firstRun, nextRun } from '../dist/schedule-spec.js';
import { InsituError } from '../dist/errors.js';

const T = Date.parse('2026-01-01T03:00:00Z');
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function refused(v: unknown): string {
  try {
    checkSchedule(v, T);
  } catch (e) {
    expect(e).toBeInstanceOf(InsituError);
    expect((e as InsituError).code).toBe('BAD_INPUT');
    return (e as Error).message;
  }
  throw new Error(`expected BAD_INPUT for ${JSON.stringify(v)}`);
}

describe('schedules', () => {
  it('parse at, every and cron, and survive storage', () => {
    for (const [spec, normal] of [
      [{ at: new Date(T) }, { at: new Date(T) }],
      [{ at: '2026-01-01T03:00:00Z' }, { at: new Date(T) }],
      [{ every: '15m' }, { every: 900_000 }],
      [{ every: '1h30m' }, { every: 5_400_000 }],
      [{ every: 2000 }, { every: 2000 }],
      [{ cron: '0 3 * * *' }, { cron: '0 3 * * *' }],
      [{ cron: '0 3 * * *', tz: 'Europe/Paris' }, { cron: '0 3 * * *', tz: 'Europe/Paris' }],
    ] as const) {
      const s = checkSchedule(spec, T);
      expect(s).toEqual(normal);
      expect(decodeSchedule(encodeSchedule(s))).toEqual(s);
    }
  });

  it('refuse what is not a schedule, naming the field', () => {
    expect(refused({ every: '15x' })).toMatch(/^schedule\.every must be a duration/);
    expect(refused({ every: 500 })).toMatch(/from 1 s/);
    expect(refused({ cron: '* * *' })).toMatch(/^schedule\.cron "\* \* \*" is not a valid cron pattern/);
    expect(refused({ cron: '0 0 31 2 *' })).toMatch(/never fires/);
    expect(refused({ cron: '0 3 * * *', tz: 'Mars/Base' })).toMatch(/^schedule\.tz must be an IANA time zone/);
    expect(refused({ at: 'soon' })).toMatch(/^schedule\.at must be a Date/);
    expect(refused({ at: new Date(T), every: '1m' })).toMatch(/takes no other field/);
    expect(refused({ daily: true })).toMatch(/^schedule must be one of/);
    expect(refused(null)).toMatch(/^schedule must be one of/);
  });

  it('fire first from now, then on their grid, skipping missed slots', () => {
    const every = checkSchedule({ every: '15m' }, T);
    expect(iso(firstRun(every, T))).toBe('2026-01-01T03:15:00.000Z');
    expect(iso(nextRun(every, T, T))).toBe('2026-01-01T03:15:00.000Z');
    // An engine that opens an hour late fires once and goes on from the next slot of the grid.
    expect(iso(nextRun(every, T, T + 3_600_000 + 5))).toBe('2026-01-01T04:15:00.000Z');
    const cron = checkSchedule({ cron: '0 3 * * *', tz: 'Europe/Paris' }, T);
    expect(iso(firstRun(cron, T))).toBe('2026-01-02T02:00:00.000Z');
    expect(iso(nextRun(cron, T, T + 3 * 86_400_000))).toBe('2026-01-05T02:00:00.000Z');
    const at = checkSchedule({ at: new Date(T - 1000) }, T);
    expect(firstRun(at, T)).toBe(T - 1000);
    expect(nextRun(at, T - 1000, T)).toBeNull();
  });
});
