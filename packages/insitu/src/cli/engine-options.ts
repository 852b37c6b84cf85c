import { userInfo } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { EngineOptions } from '../create-engine.js';

/** Options every command that opens a database takes. */
export interface DatabaseOptions {
  database: string;
  user?: string;
  workers?: number;
  osSandbox: 'bubblewrap' | 'none';
}

/** A commander parser for integers of at least `min`. */
export function integer(what: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be an integer of at least ${min}`);
    return n;
  };
}

/** A commander parser for durations: `30s`, `5m`, `1h`, `250ms`, or plain seconds. Resolves to ms. */
export function duration(what: string) {
  return (value: string): number => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
    if (m === null) throw new InvalidArgumentError(`${what} must be a duration such as 30s, 5m, 1h or 250ms`);
    const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
    if (!Number.isFinite(ms) || ms < 1) throw new InvalidArgumentError(`${what} must be at least 1 ms`);
    return Math.round(ms);
  };
}

/** Add `--database`, `--user`, `--workers`, `--os-sandbox` to a command. */
export function withDatabase(cmd: Command, opts: { workers?: boolean } = {}): Command {
  cmd
    .requiredOption('--database <file|url>', 'SQLite database file (created if missing) or postgres:// URL')
    .option('--user <name>', 'run as this user (default: your login name)');
  if (opts.workers !== false) {
    cmd
      .option('--workers <n>', 'Python worker threads (default: min(cores, 4))', integer('--workers', 1))
      .addOption(new Option('--os-sandbox <mode>', "'bubblewrap' or 'none' (no OS sandbox: trusted code only)").choices(['bubblewrap', 'none']).default('bubblewrap'));
  }
  return cmd;
}

/** The user a command runs as: `--user`, else the login name. */
export function userOf(o: { user?: string }): string {
  return o.user ?? process.env.INSITU_USER ?? userInfo().username;
}

/** createEngine options for a command's database options. */
export function engineOptions(o: DatabaseOptions): EngineOptions {
  return { database: o.database, osSandbox: o.osSandbox, ...(o.workers === undefined ? {} : { workers: o.workers }) };
}
