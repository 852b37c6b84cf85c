import { Command } from 'commander';
import { createEngine } from '../create-engine.js';
import { EXIT, reportError } from './exit-codes.js';
import { printRecords } from './listing.js';

/** Read a password: one line of standard input (so it never shows in the process list). */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password: ');
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

/** An engine for administration: no UDF runs, so one worker in this process, and no jobs. */
async function withAdmin(database: string, action: (engine: Awaited<ReturnType<typeof createEngine>>) => Promise<void>): Promise<void> {
  let code: number = EXIT.OK;
  try {
    const engine = await createEngine({ database, users: 'registered', workers: 1, isolation: 'thread', maxConcurrentJobs: 0 });
    try {
      await action(engine);
    } finally {
      await engine.close();
    }
  } catch (e) {
    code = reportError(e);
  }
  process.exitCode = code;
}

/** `insitu users add|passwd|rm|ls` (`create` and `password` are the older names of add and passwd). */
export function usersCommand(): Command {
  const users = new Command('users').description('the users who may sign in to the REST API');
  users
    .command('add <name>')
    .alias('create')
    .description('register a user; the password is read from standard input')
    .requiredOption('--database <file|url>', 'SQLite database file or postgres:// URL')
    .option('--description <text>', 'free-text description', '')
    .action(async (name: string, o: { database: string; description: string }) => {
      const password = await readPassword();
      await withAdmin(o.database, async (engine) => {
        await engine.users.create(name, { description: o.description, password });
        console.log(`insitu: user ${name} created`);
      });
    });
  users
    .command('passwd <name>')
    .alias('password')
    .description("set a user's password, read from standard input (tokens issued before stop working)")
    .requiredOption('--database <file|url>', 'SQLite database file or postgres:// URL')
    .action(async (name: string, o: { database: string }) => {
      const password = await readPassword();
      await withAdmin(o.database, async (engine) => {
        await engine.users.setPassword(name, password);
        console.log(`insitu: password of ${name} set`);
      });
    });
  users
    .command('rm <name>')
    .description('drop a user (with --cascade, also their scripts, datastores and tables)')
    .requiredOption('--database <file|url>', 'SQLite database file or postgres:// URL')
    .option('--cascade', 'also drop what they own')
    .action(async (name: string, o: { database: string; cascade?: boolean }) => {
      await withAdmin(o.database, async (engine) => {
        await engine.users.drop(name, { cascade: o.cascade === true });
        console.log(`insitu: user ${name} dropped`);
      });
    });
  users
    .command('ls')
    .description('list users')
    .requiredOption('--database <file|url>', 'SQLite database file or postgres:// URL')
    .option('--json', 'print JSON')
    .action(async (o: { database: string; json?: boolean }) => {
      await withAdmin(o.database, async (engine) => printRecords(await engine.users.list(), ['name', 'created', 'description'], o.json));
    });
  return users;
}
