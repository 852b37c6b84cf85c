import { badInput } from '@insitu/core';

/** Options of {@link createServer} and {@link createApp}. */
export interface ServerOptions {
  /** TCP port; 0 (default) picks a free one (see `url`). */
  readonly port?: number;
  /** Address to listen on. Default `127.0.0.1` (this machine only). */
  readonly host?: string;
  /** Largest request body in bytes; larger ones are refused with 413. Default 1 MiB. */
  readonly bodyLimit?: number;
  /** Most rows (tables) or items (lists, groups) a result may have; larger ones are 400 `OUTPUT_LIMIT`. Default 5000, as in OML4Py. */
  readonly outputLimit?: number;
  /**
   * Seconds a client may take to send a whole request (headers and body); a slower one is answered 408
   * and disconnected, so clients that trickle bytes cannot hold connections open. It does not bound
   * how long a call runs (that is `timeout`). Default 30.
   */
  readonly requestTimeoutS?: number;
  /**
   * Seconds a synchronous call may run: the timeout of a sync request without `timeout`, and the most
   * one may ask for (more is 400: use `asyncFlag`). It bounds how long one user's calls can hold the
   * workers while others wait. Default 300. Asynchronous jobs are bounded by the engine's `maxJobTimeoutMs`.
   */
  readonly syncTimeoutS?: number;
  /** Seconds an access token is valid. Default 3600. */
  readonly tokenTtlS?: number;
  /** Seconds after sign-in during which tokens can be refreshed. Default 28800 (8 h). */
  readonly refreshMaxS?: number;
  /**
   * Secret that signs access tokens (at least 32 bytes). Default: a random one created on first use and
   * kept in the database, so tokens survive a restart (whoever can read the database file can then
   * forge tokens: protect the file, or pass a secret).
   */
  readonly secret?: string | Uint8Array;
}

/** Options with defaults applied. */
export interface ResolvedServerOptions {
  readonly port: number;
  readonly host: string;
  readonly bodyLimit: number;
  readonly outputLimit: number;
  readonly requestTimeoutS: number;
  readonly syncTimeoutS: number;
  readonly tokenTtlS: number;
  readonly refreshMaxS: number;
  readonly secret: string | Uint8Array | undefined;
}

function positive(v: unknown, what: string, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw badInput(`${what} must be an integer of at least ${min}, got ${JSON.stringify(v)}`);
  return v;
}

/** Apply defaults and check every option (BAD_INPUT names the one that is wrong). */
export function resolveServerOptions(opts: ServerOptions = {}): ResolvedServerOptions {
  const port = opts.port === 0 || opts.port === undefined ? 0 : positive(opts.port, 'port', 0);
  if (port > 65535) throw badInput(`port must be 0 to 65535, got ${port}`);
  const host = opts.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') throw badInput('host must be an address to listen on, e.g. 127.0.0.1');
  const secret = opts.secret;
  if (secret !== undefined && typeof secret !== 'string' && !(secret instanceof Uint8Array)) throw badInput('secret must be a string or a Uint8Array');
  if (secret !== undefined && (typeof secret === 'string' ? Buffer.byteLength(secret) : secret.length) < 32) throw badInput('secret must be at least 32 bytes long');
  return {
    port,
    host,
    bodyLimit: positive(opts.bodyLimit, 'bodyLimit', 1_048_576),
    outputLimit: positive(opts.outputLimit, 'outputLimit', 5000),
    requestTimeoutS: positive(opts.requestTimeoutS, 'requestTimeoutS', 30),
    syncTimeoutS: positive(opts.syncTimeoutS, 'syncTimeoutS', 300),
    tokenTtlS: positive(opts.tokenTtlS, 'tokenTtlS', 3600),
    refreshMaxS: positive(opts.refreshMaxS, 'refreshMaxS', 28_800),
    secret,
  };
}
