import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Command } from 'commander';
import { type CreateScheduleOptions, type Session } from '@insitu/core';
import { createEngine } from '../create-engine.js';
import { userOf } from './engine-options.js';
import { EXIT, reportError } from './exit-codes.js';
import { printRecord, printRecords } from './listing.js';
import { renderResult, type OutputFormat } from './result-output.js';

/** Options of the session commands (scripts, ds, jobs, schedules). */
interface SessionOptions {
  database: string;
  user?: string;
  json?: boolean;
}

/**
 * Run `action` with a session on `--database` as `--user`, report errors, set the exit code. These
 * commands run no UDF (a script's source is only parsed, never run, when it is stored), so the engine
 * has one worker in this process, and it runs no queued jobs (its close would interrupt them).
 */
async function withSession(o: SessionOptions, action: (me: Session) => Promise<void>): Promise<void> {
  let code: number = EXIT.OK;
  try {
    const engine = await createEngine({ database: o.database, workers: 1, isolation: 'thread', maxConcurrentJobs: 0 });
    try {
      await action(engine.session({ user: userOf(o) }));
    } finally {
      await engine.close();
    }
  } catch (e) {
    code = reportError(e);
  }
  process.exitCode = code;
}

/** A subcommand with `--database`, `--user` and `--json`. */
function sub(parent: Command, spec: string, description: string): Command {
  return parent
    .command(spec)
    .description(description)
    .requiredOption('--database <file|url>', 'SQLite database file or postgres:// URL')
    .option('--user <name>', 'act as this user (default: your login name)')
    .option('--json', 'print JSON (the default when stdout is not a terminal)');
}

/** `insitu scripts ls|show|create|drop|export|import`. */
export function scriptsCommand(): Command {
  const cmd = new Command('scripts').description('the script repository: list, show, create, drop, export, import');
  sub(cmd, 'ls', 'list scripts')
    .option('--type <type>', "user (default) | global | all | grant | granted")
    .option('--name <pattern>', 'LIKE pattern')
    .action((o: SessionOptions & { type?: 'user' | 'global' | 'all'; name?: string }) =>
      withSession(o, async (me) =>
        printRecords(await me.scripts.list({ ...(o.type === undefined ? {} : { type: o.type }), ...(o.name === undefined ? {} : { name: o.name }) }), ['name', 'owner', 'global', 'description', 'created'], o.json),
      ),
    );
  sub(cmd, 'show <name>', 'print a script (OWNER/NAME for one granted to you)').action((name: string, o: SessionOptions) =>
    withSession(o, async (me) => {
      const [owner, n] = name.includes('/') ? [name.slice(0, name.indexOf('/')), name.slice(name.indexOf('/') + 1)] : [undefined, name];
      const s = await me.scripts.load(n, owner === undefined ? {} : { owner });
      if (o.json === true) printRecord(s);
      else process.stdout.write(s.source.endsWith('\n') ? s.source : `${s.source}\n`);
    }),
  );
  sub(cmd, 'create <file>', 'store a .py file as a script (named like the file unless --name)')
    .option('--name <name>', 'script name')
    .option('--description <text>', 'description', '')
    .option('--global', 'visible to every user')
    .option('--overwrite', 'replace a script of that name')
    .action((file: string, o: SessionOptions & { name?: string; description: string; global?: boolean; overwrite?: boolean }) =>
      withSession(o, async (me) => {
        const source = readFileSync(file, 'utf8');
        const name = o.name ?? basename(file).replace(/\.py$/, '');
        const s = await me.scripts.create(name, source, { description: o.description, global: o.global === true, overwrite: o.overwrite === true });
        process.stderr.write(`insitu: script ${s.name} stored${s.global ? ' (global)' : ''}\n`);
      }),
    );
  sub(cmd, 'drop <name>', 'drop a script')
    .option('--global', 'the global script of that name')
    .action((name: string, o: SessionOptions & { global?: boolean }) =>
      withSession(o, async (me) => {
        await me.scripts.drop(name, { global: o.global === true });
        process.stderr.write(`insitu: script ${name} dropped\n`);
      }),
    );
  sub(cmd, 'export <dir>', 'write your scripts as .py files plus a manifest into <dir> (scripts.export)')
    .option('--names <names>', 'comma-separated script names (default: every script you own)')
    .action((dir: string, o: SessionOptions & { names?: string }) =>
      withSession(o, async (me) => {
        const names = o.names?.split(',').map((n) => n.trim()).filter((n) => n !== '');
        const done = await me.scripts.export({ dir, ...(names === undefined ? {} : { names }) });
        process.stderr.write(`insitu: ${done.length} scripts exported to ${dir}\n`);
      }),
    );
  sub(cmd, 'import <dir>', 'store the scripts of a directory written by export, as yours; all or nothing (scripts.import)')
    .option('--overwrite', 'replace scripts of the same names')
    .action((dir: string, o: SessionOptions & { overwrite?: boolean }) =>
      withSession(o, async (me) => {
        const done = await me.scripts.import({ dir, overwrite: o.overwrite === true });
        process.stderr.write(`insitu: ${done.length} scripts imported\n`);
      }),
    );
  return cmd;
}

/** `insitu ds ls|describe|rm`. */
export function datastoresCommand(): Command {
  const cmd = new Command('ds').description('datastores: list, describe, remove');
  sub(cmd, 'ls', 'list datastores')
    .option('--type <type>', 'user (default) | all | grant | granted')
    .action((o: SessionOptions & { type?: 'user' | 'all' | 'grant' | 'granted' }) =>
      withSession(o, async (me) => printRecords(await me.datastores.list(o.type === undefined ? {} : { type: o.type }), ['name', 'owner', 'objectCount', 'size', 'description', 'created'], o.json)),
    );
  sub(cmd, 'describe <name>', "a datastore's objects")
    .option('--owner <user>', "another user's datastore granted to you")
    .action((name: string, o: SessionOptions & { owner?: string }) =>
      withSession(o, async (me) => printRecords(await me.datastores.describe(name, o.owner === undefined ? {} : { owner: o.owner }), ['name', 'class', 'size', 'length', 'rows', 'columns'], o.json)),
    );
  sub(cmd, 'rm <name>', 'delete a datastore (or some of its objects)')
    .option('--objs <names>', 'comma-separated object names')
    .action((name: string, o: SessionOptions & { objs?: string }) =>
      withSession(o, async (me) => {
        const n = await me.datastores.delete(name, o.objs === undefined ? {} : { objs: o.objs.split(',') });
        process.stderr.write(`insitu: ${o.objs === undefined ? `datastore ${name} deleted` : `${n} objects deleted from ${name}`}\n`);
      }),
    );
  return cmd;
}

/** `insitu jobs ls|status|result|cancel`. */
export function jobsCommand(): Command {
  const cmd = new Command('jobs').description('your jobs: list, status, result, cancel');
  sub(cmd, 'ls', 'list your jobs, newest first')
    .option('--state <state>', 'queued | running | succeeded | failed | cancelled | timed_out')
    .action((o: SessionOptions & { state?: 'queued' }) =>
      withSession(o, async (me) => printRecords(await me.jobs.list(o.state === undefined ? {} : { state: o.state }), ['id', 'state', 'kind', 'func', 'created', 'elapsedMs'], o.json)),
    );
  sub(cmd, 'status <id>', "a job's status").action((id: string, o: SessionOptions) => withSession(o, async (me) => printRecord(await me.jobs.status(id))));
  sub(cmd, 'result <id>', "a finished job's result (as insitu run prints it)")
    .option('--format <format>', 'table | csv | json | arrow')
    .action((id: string, o: SessionOptions & { format?: OutputFormat }) =>
      withSession(o, async (me) => {
        const r = await me.jobs.result(id);
        if (r.into !== undefined) process.stdout.write(`${r.into.rows} rows written into ${r.into.table} (${r.into.mode})\n`);
        else process.stdout.write(renderResult(r, o.format ?? (process.stdout.isTTY === true ? 'table' : 'csv')));
      }),
    );
  sub(cmd, 'cancel <id>', 'cancel a queued or running job').action((id: string, o: SessionOptions) =>
    withSession(o, async (me) => printRecord(await me.jobs.cancel(id))),
  );
  return cmd;
}

/** `insitu schedules ls|create|enable|disable|runs`. */
export function schedulesCommand(): Command {
  const cmd = new Command('schedules').description('schedules of calls: list, create, enable, disable, runs');
  sub(cmd, 'ls', 'list your schedules').action((o: SessionOptions) =>
    withSession(o, async (me) => printRecords(await me.scheduler.list(), ['name', 'kind', 'enabled', 'nextRun', 'runCount', 'lastRun'], o.json)),
  );
  sub(cmd, 'create <file>', 'create schedules from a JSON file: one spec or a list, as session.scheduler.create takes them').action((file: string, o: SessionOptions) =>
    withSession(o, async (me) => {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      const specs = (Array.isArray(raw) ? raw : [raw]) as Record<string, unknown>[];
      for (const spec of specs) {
        const s = spec.schedule as Record<string, unknown> | undefined;
        const schedule = s !== undefined && typeof s.at === 'string' ? { ...s, at: new Date(s.at) } : s;
        const made = await me.scheduler.create({ ...spec, schedule } as unknown as CreateScheduleOptions);
        process.stderr.write(`insitu: schedule ${made.name} created${made.enabled ? `, next run ${made.nextRun?.toISOString() ?? 'none'}` : ' (disabled)'}\n`);
      }
    }),
  );
  sub(cmd, 'enable <name>', 'enable a schedule').action((name: string, o: SessionOptions) => withSession(o, async (me) => printRecord(await me.scheduler.enable(name))));
  sub(cmd, 'disable <name>', 'disable a schedule').action((name: string, o: SessionOptions) => withSession(o, async (me) => printRecord(await me.scheduler.disable(name))));
  sub(cmd, 'runs [name]', 'the run log, newest first')
    .option('--limit <n>', 'most runs', '100')
    .action((name: string | undefined, o: SessionOptions & { limit: string }) =>
      withSession(o, async (me) =>
        printRecords(await me.scheduler.runs({ ...(name === undefined ? {} : { name }), limit: Number(o.limit) }), ['schedule', 'jobId', 'trigger', 'started', 'finished', 'state'], o.json),
      ),
    );
  return cmd;
}
