import { badInput } from './errors.js';

/** What an engine does for other engines on the same database (`createEngine({ serve })`). */
export interface ServeSettings {
  /**
   * Run partitions of distributed calls (`distribute: true`) made by any engine on the database, with
   * this engine's workers, whenever they are free. Default false: the engine runs only its own calls'.
   */
  readonly distributed?: boolean;
  /**
   * How long a partition this engine claimed stays its own without a renewal, in ms (renewed every third
   * of it while it runs). When the engine dies, another engine runs the partition again after this. Default 10 000.
   */
  readonly leaseMs?: number;
  /** How often an idle serving engine looks for partitions, in ms. Default 100. */
  readonly pollMs?: number;
}

/** {@link ServeSettings} validated, with defaults (BAD_INPUT naming the field). */
export function checkServeSettings(v: unknown): Required<ServeSettings> {
  if (v === undefined) return { distributed: false, leaseMs: 10_000, pollMs: 100 };
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badInput('serve must be an object { distributed?, leaseMs?, pollMs? }');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['distributed', 'leaseMs', 'pollMs'].includes(k)) throw badInput(`serve.${k} is not a serve option (distributed, leaseMs, pollMs)`);
  if (o.distributed !== undefined && typeof o.distributed !== 'boolean') throw badInput('serve.distributed must be true or false');
  const ms = (name: string, dflt: number, min: number): number => {
    const x = o[name];
    if (x === undefined) return dflt;
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min) throw badInput(`serve.${name} must be an integer of at least ${min} ms, got ${JSON.stringify(x)}`);
    return x;
  };
  return { distributed: o.distributed === true, leaseMs: ms('leaseMs', 10_000, 300), pollMs: ms('pollMs', 100, 5) };
}
