#!/usr/bin/env node
// The README's test command: runs every suite on SQLite, and the storage suites again on PostgreSQL
// when a server is reachable. It says which backends ran; a skipped backend is reported, never silent.
// INSITU_REQUIRE_POSTGRES=1 (set by .ci/run) makes an unreachable server a failure.
import { spawnSync } from 'node:child_process';
import pg from 'pg';

const url = process.env.INSITU_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const required = process.env.INSITU_REQUIRE_POSTGRES === '1';

async function reachable() {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    await client.end().catch(() => {});
  }
}

const masked = url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
// The suites make and drop their databases with the psql client (test/backend.ts).
const psql = spawnSync('psql', ['--version'], { stdio: 'ignore' }).status === 0;
const why = psql ? await reachable() : 'the psql client is not installed (Debian: apt-get install postgresql-client)';
const backends = why === null ? ['sqlite', 'postgres'] : ['sqlite'];
const banner =
  why === null
    ? `backends: sqlite (every suite) and postgres (storage suites, ${masked})`
    : `backends: sqlite only. postgres SKIPPED: ${psql ? `${masked} is not reachable (${why}); set INSITU_TEST_PG_URL or start the server` : why}`;
console.log(`\ninsitu tests: ${banner}\n`);
if (why !== null && required) {
  console.error('insitu tests: INSITU_REQUIRE_POSTGRES=1 and the PostgreSQL suites cannot run: failing.');
  process.exit(1);
}
const args = ['vitest', 'run', ...backends.flatMap((b) => ['--project', b]), ...process.argv.slice(2)];
const run = spawnSync('npx', args, { stdio: 'inherit' });
const rc = run.status ?? 1;
console.log(`\ninsitu tests: ${rc === 0 ? 'passed' : 'FAILED'} on ${backends.join(' and ')}${why === null ? '' : ' (postgres SKIPPED)'}\n`);
process.exit(rc);
