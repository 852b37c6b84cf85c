import { InsituError } from '@insitu/core';

/**
 * Exit codes of the `insitu` command: 0 done, 1 the call or the user's input failed (a UDF error, a
 * missing table, a privilege), 2 the command line itself is wrong, 130 cancelled with Ctrl-C.
 */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, CANCELLED: 130 } as const;

/** A command-line mistake found after parsing (exit 2). */
export class UsageError extends Error {}

/**
 * Print an error to stderr the way the CLI shows it: `insitu: CODE: message`, then a Python traceback
 * (with `<script NAME>` shown as the file it came from, when the script was a file) and what the UDF
 * printed before it failed. Returns the exit code.
 */
export function reportError(e: unknown, scriptFiles: ReadonlyMap<string, string> = new Map()): number {
  if (e instanceof UsageError) {
    process.stderr.write(`insitu: ${e.message}\n(see insitu --help)\n`);
    return EXIT.USAGE;
  }
  if (!(e instanceof InsituError)) {
    process.stderr.write(`insitu: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.FAILED;
  }
  const withFiles = (text: string): string => {
    let out = text;
    for (const [name, file] of scriptFiles) out = out.split(`"<script ${name}>"`).join(JSON.stringify(file));
    return out;
  };
  process.stderr.write(`insitu: ${e.code}: ${withFiles(e.message)}\n`);
  if (e.partition !== undefined) process.stderr.write(`in partition ${JSON.stringify(e.partition, bigintText)}\n`);
  if (e.stdout !== undefined && e.stdout !== '') process.stderr.write(`--- the UDF printed before it failed ---\n${e.stdout}${e.stdout.endsWith('\n') ? '' : '\n'}`);
  if (e.traceback !== undefined && e.traceback !== '') process.stderr.write(withFiles(e.traceback) + (e.traceback.endsWith('\n') ? '' : '\n'));
  return e.code === 'CANCELLED' ? EXIT.CANCELLED : EXIT.FAILED;
}

/** JSON.stringify replacer for bigint cells. */
export function bigintText(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v;
}
