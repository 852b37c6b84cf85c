import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { checkApplyCall, type ApplyCall, type ApplyKind, type CallOptions, type FuncRef, type JsonValue, type Session, type SqlParam } from '@insitu/core';
import { createEngine } from '../create-engine.js';
import { duration, engineOptions, integer, userOf, withDatabase, type DatabaseOptions } from './engine-options.js';
import { EXIT, UsageError, reportError } from './exit-codes.js';
import { ProgressBar } from './progress-bar.js';
import { OUTPUT_FORMATS, defaultFormat, renderResult, udfOutput, type OutputFormat } from './result-output.js';
import { shownDatabase } from './shown-database.js';

/** The options of `insitu run`. */
interface RunOptions extends DatabaseOptions {
  function?: string;
  table?: string;
  query?: string;
  param: string[];
  mode?: 'eval' | 'table' | 'row' | 'group' | 'index';
  rows?: number;
  by?: string;
  times?: number;
  args?: string;
  arg: string[];
  parallel?: number;
  distribute?: boolean;
  into?: string;
  append?: boolean;
  replace?: boolean;
  format?: OutputFormat;
  timeout?: number;
  context?: 'read' | 'write';
  async?: boolean;
  quiet?: boolean;
}

const KINDS: Record<NonNullable<RunOptions['mode']>, ApplyKind> = {
  eval: 'doEval',
  table: 'tableApply',
  row: 'rowApply',
  group: 'groupApply',
  index: 'indexApply',
};

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A `--arg k=v` value: JSON when it parses as JSON, else the text itself. */
function argValue(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

/** A `--param` value: a JSON number, boolean or null when it parses as one, else the text itself. */
function paramValue(text: string): SqlParam {
  const v = argValue(text);
  if (v === null || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  return text;
}

/** The function to run: a `.py` file's source (named for tracebacks by the file) or a stored script. */
function funcOf(target: string, o: RunOptions): { func: FuncRef; files: Map<string, string> } {
  if (target.endsWith('.py') || existsSync(target)) {
    if (!existsSync(target)) throw new UsageError(`no file ${target}`);
    const source = readFileSync(target, 'utf8');
    const stem = basename(target).replace(/\.py$/, '');
    const name = o.function ?? (/^[A-Za-z_][A-Za-z0-9_]*$/.test(stem) ? stem : 'main');
    return { func: { source, name }, files: new Map([[name, resolve(target)]]) };
  }
  if (o.function !== undefined) throw new UsageError('--function picks a function of a .py file; a stored script runs its own function');
  const slash = target.indexOf('/');
  return { func: slash > 0 ? { name: target.slice(slash + 1), owner: target.slice(0, slash) } : target, files: new Map() };
}

/** The apply call `insitu run` makes from its command line. */
export function cliCall(session: Session, target: string, o: RunOptions): { call: ApplyCall; files: Map<string, string> } {
  if (o.table !== undefined && o.query !== undefined) throw new UsageError('give --table or --query, not both');
  if (o.param.length > 0 && o.query === undefined) throw new UsageError('--param binds the ? of --query');
  if (o.append === true && o.replace === true) throw new UsageError('give --append or --replace, not both');
  if ((o.append === true || o.replace === true) && o.into === undefined) throw new UsageError('--append and --replace say how --into writes');
  const hasData = o.table !== undefined || o.query !== undefined;
  const mode = o.mode ?? (o.by !== undefined ? 'group' : o.times !== undefined ? 'index' : o.rows !== undefined ? 'row' : hasData ? 'table' : 'eval');
  const kind = KINDS[mode];
  const needsData = kind === 'tableApply' || kind === 'rowApply' || kind === 'groupApply';
  if (needsData && !hasData) throw new UsageError(`--mode ${mode} needs --table or --query`);
  if (!needsData && hasData) throw new UsageError(`--mode ${mode} takes no --table or --query`);
  if (o.by !== undefined && kind !== 'groupApply') throw new UsageError('--by is for --mode group');
  if (o.times !== undefined && kind !== 'indexApply') throw new UsageError('--times is for --mode index');
  if (o.rows !== undefined && kind !== 'rowApply') throw new UsageError('--rows is for --mode row');
  if (kind === 'groupApply' && o.by === undefined) throw new UsageError('--mode group needs --by COL[,COL...]');
  if (kind === 'indexApply' && o.times === undefined) throw new UsageError('--mode index needs --times N');
  let args: Record<string, JsonValue> = {};
  if (o.args !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(o.args);
    } catch (e) {
      throw new UsageError(`--args is not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError('--args must be a JSON object');
    args = parsed as Record<string, JsonValue>;
  }
  for (const kv of o.arg) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--arg takes key=value, got ${JSON.stringify(kv)}`);
    args[kv.slice(0, eq)] = argValue(kv.slice(eq + 1));
  }
  const { func, files } = funcOf(target, o);
  const options: CallOptions = {
    ...(Object.keys(args).length === 0 ? {} : { args }),
    ...(o.rows === undefined ? {} : { rows: o.rows }),
    ...(o.parallel === undefined ? {} : { parallel: o.parallel }),
    ...(o.distribute === true ? { distribute: true } : {}),
    ...(o.timeout === undefined ? {} : { timeoutMs: o.timeout }),
    ...(o.context === undefined ? {} : { context: o.context }),
    ...(o.into === undefined ? {} : { into: { table: o.into, mode: o.append === true ? 'append' : o.replace === true ? 'replace' : 'create' } }),
  };
  const data = o.table !== undefined ? session.table(o.table) : o.query !== undefined ? session.query(o.query, o.param.map(paramValue)) : undefined;
  const call = checkApplyCall({
    kind,
    ...(data === undefined ? {} : { data: data.toPlan() }),
    ...(o.by === undefined ? {} : { by: o.by.split(',').map((c) => c.trim()) }),
    ...(o.times === undefined ? {} : { times: o.times }),
    func,
    options,
  });
  return { call, files };
}

/** Run the call, print its result and output; resolves to the exit code. */
async function run(target: string, o: RunOptions): Promise<number> {
  const format = o.format ?? defaultFormat(process.stdout.isTTY === true);
  // A short-lived engine runs no queued jobs: its close would interrupt them.
  const engine = await createEngine({ ...engineOptions(o), maxConcurrentJobs: 0 });
  let files = new Map<string, string>();
  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(EXIT.CANCELLED);
    process.stderr.write('\ninsitu: cancelling (Ctrl-C again to quit at once)\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  const bar = process.stderr.isTTY === true && o.quiet !== true && o.async !== true ? new ProgressBar(process.stderr) : null;
  try {
    const me = engine.session({ user: userOf(o) });
    const made = cliCall(me, target, o);
    files = made.files;
    if (o.async === true) {
      const { id } = await me.jobs.submit(made.call);
      process.stdout.write(`${id}\n`);
      if (o.quiet !== true) process.stderr.write(`insitu: job ${id} queued; it runs while an engine is open on ${shownDatabase(o.database)} (insitu serve), see insitu jobs status ${id}\n`);
      return EXIT.OK;
    }
    const result = await me.run(made.call, { signal: ac.signal, ...(bar === null ? {} : { onProgress: (p) => bar.update(p) }) });
    bar?.stop();
    process.stderr.write(udfOutput(result, 'stdout'));
    process.stderr.write(udfOutput(result, 'stderr'));
    if (result.into !== undefined) {
      process.stdout.write(`${result.into.rows} rows written into ${result.into.table} (${result.into.mode})\n`);
    } else {
      const out = renderResult(result, format);
      await new Promise<void>((done, fail) => process.stdout.write(out, (e) => (e == null ? done() : fail(e))));
    }
    return EXIT.OK;
  } catch (e) {
    bar?.stop();
    return reportError(e, files);
  } finally {
    process.off('SIGINT', onSigint);
    await engine.close();
  }
}

/** `insitu run`: run a .py file or a stored script over a table or query, or on its own. */
export function runCommand(): Command {
  const cmd = new Command('run')
    .argument('<script>', 'a .py file, or the name of a stored script (OWNER/NAME for one granted to you)')
    .description('run a Python function over a table or query, or on its own, and print its result')
    .option('--function <name>', 'the function of the .py file to call (default: the one named like the file, or its only function)');
  withDatabase(cmd);
  cmd
    .option('--table <name>', 'input: a table')
    .option('--query <sql>', 'input: a read-only SELECT')
    .option('--param <value>', 'a ? parameter of --query (repeatable; JSON or text)', collect, [])
    .addOption(new Option('--mode <mode>', 'eval | table | row | group | index (default: from --by/--times/--rows, else table with input, eval without)').choices(Object.keys(KINDS)))
    .option('--rows <n>', 'rows per chunk (row mode)', integer('--rows', 1))
    .option('--by <cols>', 'grouping columns, comma-separated (group mode)')
    .option('--times <n>', 'how many calls (index mode)', integer('--times', 1))
    .option('--args <json>', 'keyword arguments as a JSON object')
    .option('--arg <key=value>', 'one keyword argument (repeatable; JSON or text)', collect, [])
    .option('--parallel <n>', 'partitions run at once (default 1)', integer('--parallel', 1))
    .option('--distribute', 'row, group and index modes: queue the partitions for every engine serving distributed work on the database')
    .option('--into <table>', 'write the result table into this table instead of printing it')
    .option('--append', 'with --into: add rows to an existing table')
    .option('--replace', 'with --into: replace the table')
    .addOption(new Option('--format <format>', 'table (default on a terminal) | csv (default when piped) | json | arrow (IPC stream)').choices([...OUTPUT_FORMATS]))
    .option('--timeout <duration>', 'stop the call after this long (30s, 5m, 1h)', duration('--timeout'))
    .addOption(new Option('--context <mode>', "what insitu.connect() may do: 'read' (default) or 'write'").choices(['read', 'write']))
    .option('--async', 'submit as a job, print its id and return (it runs while an engine is open on the file)')
    .option('--quiet', 'no progress bar')
    .action(async (target: string, o: RunOptions) => {
      process.exitCode = await run(target, o);
    });
  return cmd;
}
