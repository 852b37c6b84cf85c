/** Engine tables keep times as milliseconds since the epoch; these convert them, NULL kept. */

/** A stored time (ms since the epoch, or NULL) as a Date, or null. */
export const dateOf = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

/** A Date (or null) as the milliseconds since the epoch an engine table stores. */
export const msOf = (d: Date | null): number | null => (d === null ? null : d.getTime());
