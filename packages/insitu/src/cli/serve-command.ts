import { Command, InvalidArgumentError } from 'commander';
import { createServer } from '@insitu/server';
import { createEngine } from '../create-engine.js';
import { integer } from './engine-options.js';
import { shownDatabase } from './shown-database.js';

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

/** `insitu serve`: the REST API for the registered users of a database, until SIGINT/SIGTERM. */
export function serveCommand(): Command {
  return new Command('serve')
    .description("serve OML4Py's REST API (py-scripts/v1) for the registered users of a database")
    .requiredOption('--database <file|url>', 'SQLite database file (created if missing) or postgres:// URL')
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
      console.log(`insitu: serving ${shownDatabase(o.database)} at ${server.url}/oml/api/py-scripts/v1 (tokens: ${server.url}/omlusers/api/oauth2/v1/token)`);
      const stop = async () => {
        await server.close();
        await engine.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });
}
