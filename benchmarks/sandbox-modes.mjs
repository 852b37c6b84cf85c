// The three ways insitu can run UDFs, as the benchmarks compare them: the default sandbox process
// inside bubblewrap, the same sandbox process with Node's permission model only (the weaker mode
// before bubblewrap), and worker threads in the engine's own process (no sandbox: the floor).

/** Each mode's key, label in the tables and createEngine options. */
export const MODES = {
  bubblewrap: { label: 'process, bubblewrap', options: { isolation: 'process', osSandbox: 'bubblewrap' } },
  none: { label: 'process, no OS sandbox', options: { isolation: 'process', osSandbox: 'none' } },
  thread: { label: 'thread', options: { isolation: 'thread' } },
};

/** The modes in the order the tables list them. */
export const MODE_KEYS = Object.keys(MODES);

/**
 * `keys` rotated by `round`, so that no mode always runs first (or last) in a round of interleaved runs
 * on a machine whose load drifts.
 */
export function rotated(keys, round) {
  const k = round % keys.length;
  return [...keys.slice(k), ...keys.slice(0, k)];
}
