/**
 * Runtime log lines: what the Python runtime itself prints (Pyodide's console output in worker
 * threads, such as its "fatal error" report when a UDF crashes an interpreter, and the sandbox
 * process's console and stderr). UDF output is not here: it is captured per call (`stdout`, `stderr`).
 * Worker threads and the sandbox process send these lines to the engine, which hands them to
 * `createEngine({ onRuntimeLog })` or, by default, writes them to `process.stderr` prefixed `insitu:`.
 */
import { formatWithOptions } from 'node:util';

/** How severe a runtime log line is: the console method that printed it (`trace` counts as `debug`). */
export type RuntimeLogLevel = 'error' | 'warn' | 'info' | 'log' | 'debug';

/** One message printed by the Python runtime. */
export interface RuntimeLogEntry {
  /** The console method that printed it, or `error` for raw output on the sandbox process's stderr. */
  readonly level: RuntimeLogLevel;
  /** `worker`: a worker thread running an interpreter; `sandbox`: the sandbox process itself. */
  readonly source: 'worker' | 'sandbox';
  /** The worker thread's id in its process (for `source: 'worker'`). */
  readonly threadId?: number;
  /** The printed text, formatted as the console would (it may span several lines). */
  readonly message: string;
}

/** Receives runtime log lines (see {@link RuntimeLogEntry}). It must not throw. */
export type RuntimeLogSink = (entry: RuntimeLogEntry) => void;

/** What a worker thread posts to the pool for each console message. */
export interface RuntimeLogMessage {
  readonly insituLog: RuntimeLogEntry;
}

/** Whether a message from a worker thread is a {@link RuntimeLogMessage}. */
export function isRuntimeLogMessage(m: unknown): m is RuntimeLogMessage {
  return typeof m === 'object' && m !== null && 'insituLog' in m;
}

/** The default sink: every line of the message on `process.stderr`, prefixed `insitu:` and where it came from. */
export function writeRuntimeLogToStderr(entry: RuntimeLogEntry): void {
  const from = entry.source === 'worker' ? `worker ${entry.threadId ?? '?'}` : 'sandbox';
  const text = entry.message.split('\n').map((line) => `insitu: [${from}] ${entry.level}: ${line}\n`).join('');
  process.stderr.write(text);
}

/** Console methods routed, and the level each reports as. */
const ROUTED: readonly (readonly [keyof Console & string, RuntimeLogLevel])[] = [
  ['error', 'error'],
  ['warn', 'warn'],
  ['info', 'info'],
  ['log', 'log'],
  ['debug', 'debug'],
  ['trace', 'debug'],
];

/**
 * Route this thread's console output (`console.error`, `warn`, `info`, `log`, `debug`, `trace`) to
 * `send` instead of the process's stdout and stderr. Call it before Pyodide loads.
 */
export function routeConsole(send: (level: RuntimeLogLevel, message: string) => void): void {
  for (const [method, level] of ROUTED) {
    const write =
      method === 'trace'
        ? (...args: unknown[]) => send(level, `Trace: ${formatWithOptions({ colors: false }, ...args)}\n${new Error().stack?.split('\n').slice(2).join('\n') ?? ''}`)
        : (...args: unknown[]) => send(level, formatWithOptions({ colors: false }, ...args));
    Object.defineProperty(console, method, { configurable: true, writable: true, value: write });
  }
}

/**
 * Split text arriving in chunks (a child's stderr) into lines and hand each complete line to `line`;
 * returns the function to feed chunks to, and one to flush a last unterminated line.
 */
export function lineSplitter(line: (text: string) => void): { push: (chunk: string) => void; end: () => void } {
  let rest = '';
  return {
    push: (chunk) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) line(p);
    },
    end: () => {
      if (rest !== '') line(rest);
      rest = '';
    },
  };
}
