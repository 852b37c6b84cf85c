// Order statistics of timings.

/** The value at quantile `q` (0..1) of `xs`: the nearest rank below, so 0.5 of 5 values is the 3rd. */
export const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))];

/** The median of `xs` (for an even count, the upper of the two middle values). */
export const median = (xs) => quantile(xs, 0.5);

/** The run of median time among `runs` ({ ms }). */
export const medianRun = (runs) => [...runs].sort((a, b) => a.ms - b.ms)[Math.floor(runs.length / 2)];
