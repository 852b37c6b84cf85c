#!/usr/bin/env node
/**
 * The `insitu` command. `insitu serve --database app.db --port 8080` serves the REST API;
 * `insitu users create NAME` and `insitu users password NAME` manage who may sign in (the password is
 * read from standard input, one line, so it never shows in the process list).
 */
import { Command, InvalidArgumentError } from 'commander';
import { createServer } from '@insitu/server';
import { createEngine } from './create-engine.js';

function integer(what: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be an integer of at least ${min}`);
    return n;
  };
}

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password: ');
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

interface ServeOptions {
  database: string;
  port: number;
  host: string;
  workers?: number;
  osSandbox: 'bubblewrap' | 'none';
  bodyLimit?: number;
  outputLimit?: number;
  requestTimeout?: number;
  syncTimeout?: number;
  tokenTtl?: number;
  refreshMax?: number;
}

const program = new Command('insitu').description('Run Python user-defined functions next to your data.');

program
  .command('serve')
  .description("serve OML4Py's REST API (py-scripts/v1) for the registered users of a database")
  .requiredOption('--database <file>', 'SQLite database file (created if missing)')
  .option('--port <n>', 'TCP port (0: any free one)', integer('port', 0), 8080)
  .option('--host <address>', 'address to listen on', '127.0.0.1')
  .option('--workers <n>', 'Python worker threads (default: min(cores, 4))', integer('workers', 1))
  .option('--os-sandbox <mode>', "'bubblewrap' (default) or 'none' (trusted code only)", 'bubblewrap')
  .option('--body-limit <bytes>', 'largest request body (default 1 MiB)', integer('body-limit', 1))
  .option('--output-limit <n>', 'most rows/items in a result (default 5000)', integer('output-limit', 1))
  .option('--request-timeout <s>', 'seconds a client may take to send a request (default 30)', integer('request-timeout', 1))
  .option('--sync-timeout <s>', 'seconds a synchronous call may run (default 300; longer work: asyncFlag)', integer('sync-timeout', 1))
  .option('--token-ttl <s>', 'seconds an access token is valid (default 3600)', integer('token-ttl', 1))
  .option('--refresh-max <s>', 'seconds after sign-in that tokens can be refreshed (default 28800)', integer('refresh-max', 1))
  .action(async (o: ServeOptions) => {
    if (o.osSandbox !== 'bubblewrap' && o.osSandbox !== 'none') throw new InvalidArgumentError("--os-sandbox must be 'bubblewrap' or 'none'");
    const engine = await createEngine({ database: o.database, users: 'registered', osSandbox: o.osSandbox, ...(o.workers === undefined ? {} : { workers: o.workers }) });
    const secret = process.env.INSITU_TOKEN_SECRET;
    const server = await createServer(engine, {
      port: o.port,
      host: o.host,
      ...(o.bodyLimit === undefined ? {} : { bodyLimit: o.bodyLimit }),
      ...(o.outputLimit === undefined ? {} : { outputLimit: o.outputLimit }),
      ...(o.requestTimeout === undefined ? {} : { requestTimeoutS: o.requestTimeout }),
      ...(o.syncTimeout === undefined ? {} : { syncTimeoutS: o.syncTimeout }),
      ...(o.tokenTtl === undefined ? {} : { tokenTtlS: o.tokenTtl }),
      ...(o.refreshMax === undefined ? {} : { refreshMaxS: o.refreshMax }),
      ...(secret === undefined || secret === '' ? {} : { secret }),
    });
    console.log(`insitu: serving ${o.database} at ${server.url}/oml/api/py-scripts/v1 (tokens: ${server.url}/omlusers/api/oauth2/v1/token)`);
    const stop = async () => {
      await server.close();
      await engine.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop());
    process.once('SIGTERM', () => void stop());
  });

const users = program.command('users').description('manage the users who may sign in');

/** An engine for administration: no UDF runs, so one worker in this process. */
const adminEngine = (database: string) => createEngine({ database, users: 'registered', workers: 1, isolation: 'thread' });

users
  .command('create <name>')
  .description('register a user; the password is read from standard input')
  .requiredOption('--database <file>', 'SQLite database file')
  .option('--description <text>', 'free-text description', '')
  .action(async (name: string, o: { database: string; description: string }) => {
    const password = await readPassword();
    const engine = await adminEngine(o.database);
    try {
      await engine.users.create(name, { description: o.description, password });
      console.log(`insitu: user ${name} created`);
    } finally {
      await engine.close();
    }
  });

users
  .command('password <name>')
  .description("set a user's password, read from standard input (tokens issued before stop working)")
  .requiredOption('--database <file>', 'SQLite database file')
  .action(async (name: string, o: { database: string }) => {
    const password = await readPassword();
    const engine = await adminEngine(o.database);
    try {
      await engine.users.setPassword(name, password);
      console.log(`insitu: password of ${name} set`);
    } finally {
      await engine.close();
    }
  });

program.parseAsync().catch((e: unknown) => {
  console.error(`insitu: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
