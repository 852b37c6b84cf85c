import { Cron } from 'croner';
import { badInput } from './errors.js';

/**
 * When a schedule fires: once `at` a time, `every` so long, or on a `cron` pattern (in a time zone).
 * Parsed and checked once, at create time; cron patterns are read by croner.
 */

/** A schedule as `scheduler.create()` takes it. */
export type ScheduleSpec =
  /** Once, at this time (a time already past fires at the first tick after the schedule is enabled). */
  | { readonly at: Date | string | number }
  /** Repeatedly: a duration as `'15m'`, `'90s'`, `'1h30m'`, `'2d'`, or milliseconds; at least 1 s. */
  | { readonly every: string | number }
  /** On a cron pattern (5 fields, or 6 with seconds first), in time zone `tz` (IANA name; default UTC). */
  | { readonly cron: string; readonly tz?: string };

/** A checked schedule, as stored and as `scheduler.get()` reports it. */
export type Schedule = { readonly at: Date } | { readonly every: number } | { readonly cron: string; readonly tz?: string };

/** Shortest `every` interval: ticks are about a second apart. */
export const MIN_EVERY_MS = 1000;
/** Longest `every` interval (a year). */
export const MAX_EVERY_MS = 366 * 24 * 3_600_000;

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration text such as `15m`, `1h30m`, `90s`, `500ms`; null if it is not one. */
function durationMs(text: string): number | null {
  const t = text.trim();
  if (!/^(\d+(?:\.\d+)?\s*(ms|s|m|h|d)\s*)+$/.test(t)) return null;
  let ms = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return Math.round(ms);
}

/** Whether `tz` is an IANA time zone this Node knows. */
function knownTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function cronOf(pattern: string, tz: string | undefined): Cron {
  return new Cron(pattern, { paused: true, timezone: tz ?? 'UTC' });
}

/**
 * Check a schedule (BAD_INPUT naming what is wrong) and return it normalised: `at` a Date, `every` in
 * milliseconds, a cron pattern that croner parses and that fires at least once more after `now`.
 */
export function checkSchedule(value: unknown, now: number, field = 'schedule'): Schedule {
  const shapes = `${field} must be one of { at: Date }, { every: '15m' | milliseconds }, { cron: '0 3 * * *', tz? }`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badInput(shapes);
  const v = value as Record<string, unknown>;
  const keys = Object.keys(v);
  if ('at' in v) {
    if (keys.length !== 1) throw badInput(`${shapes}; ${field}.at takes no other field`);
    const at = v.at instanceof Date ? v.at : typeof v.at === 'string' || typeof v.at === 'number' ? new Date(v.at) : null;
    if (at === null || Number.isNaN(at.getTime())) throw badInput(`${field}.at must be a Date (or an ISO-8601 text or epoch milliseconds), got ${JSON.stringify(v.at)}`);
    return { at: new Date(at.getTime()) };
  }
  if ('every' in v) {
    if (keys.length !== 1) throw badInput(`${shapes}; ${field}.every takes no other field`);
    const ms = typeof v.every === 'number' ? v.every : typeof v.every === 'string' ? durationMs(v.every) : null;
    if (ms === null || !Number.isSafeInteger(ms)) {
      throw badInput(`${field}.every must be a duration such as '15m', '1h30m', '90s', '2d' (units ms, s, m, h, d) or whole milliseconds, got ${JSON.stringify(v.every)}`);
    }
    if (ms < MIN_EVERY_MS || ms > MAX_EVERY_MS) throw badInput(`${field}.every must be from 1 s to 366 days, got ${ms} ms`);
    return { every: ms };
  }
  if ('cron' in v) {
    if (keys.some((k) => k !== 'cron' && k !== 'tz')) throw badInput(`${shapes}; ${field}.cron takes only tz besides`);
    if (typeof v.cron !== 'string' || v.cron.trim() === '') throw badInput(`${field}.cron must be a cron pattern such as '0 3 * * *'`);
    if (v.tz !== undefined && (typeof v.tz !== 'string' || !knownTimeZone(v.tz))) {
      throw badInput(`${field}.tz must be an IANA time zone name such as 'Europe/Paris' or 'UTC', got ${JSON.stringify(v.tz)}`);
    }
    const tz = v.tz as string | undefined;
    let next: Date | null;
    try {
      next = cronOf(v.cron, tz).nextRun(new Date(now));
    } catch (e) {
      throw badInput(`${field}.cron ${JSON.stringify(v.cron)} is not a valid cron pattern: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (next === null) throw badInput(`${field}.cron ${JSON.stringify(v.cron)} never fires`);
    return tz === undefined ? { cron: v.cron } : { cron: v.cron, tz };
  }
  throw badInput(shapes);
}

/**
 * When an enabled schedule first fires, counted from `now` (enabling, or creating enabled): `at` its
 * time (past or not), `every` one interval from now, `cron` its next match after now.
 */
export function firstRun(s: Schedule, now: number): number | null {
  if ('at' in s) return s.at.getTime();
  if ('every' in s) return now + s.every;
  return cronOf(s.cron, s.tz).nextRun(new Date(now))?.getTime() ?? null;
}

/**
 * When a schedule that was due at `due` fires next, once it fired at `now` (>= due): never for `at`;
 * for `every` the first slot of its grid (due + k * every) after now; for `cron` the next match after
 * now. Slots missed while no engine ran are skipped, so a late engine runs them once, not once each.
 */
export function nextRun(s: Schedule, due: number, now: number): number | null {
  if ('at' in s) return null;
  if ('every' in s) return due + (Math.floor(Math.max(0, now - due) / s.every) + 1) * s.every;
  return cronOf(s.cron, s.tz).nextRun(new Date(now))?.getTime() ?? null;
}

/** A schedule as JSON text, for storage. */
export function encodeSchedule(s: Schedule): string {
  return JSON.stringify('at' in s ? { at: s.at.toISOString() } : s);
}

/** A stored schedule back from its JSON text. */
export function decodeSchedule(text: string): Schedule {
  const v = JSON.parse(text) as { at?: string; every?: number; cron?: string; tz?: string };
  if (v.at !== undefined) return { at: new Date(v.at) };
  if (v.every !== undefined) return { every: v.every };
  return v.tz === undefined ? { cron: v.cron as string } : { cron: v.cron as string, tz: v.tz };
}
