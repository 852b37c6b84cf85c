// The OS sandbox on its own: the sandbox process is started exactly as the engine starts it (same
// bubblewrap command, same mounts), but running attacker JavaScript with no Node permission model and no
// frozen realm — what a UDF would have if it got past every layer inside. Each attack must still fail.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_FILES } from '../packages/runtime-pyodide/dist/runtime-files.js';
import { sandboxLaunch } from '../packages/runtime-pyodide/dist/sandbox-launch.js';
import { tempDatabase } from './helpers.js';

const db = tempDatabase();
let conn: Database.Database;
let server: Server;
let port = 0;
let connections = 0;

beforeAll(async () => {
  conn = new Database(db.path);
  conn.pragma('journal_mode = WAL');
  conn.exec('CREATE TABLE t (a); INSERT INTO t VALUES (1)');
  server = createServer((c) => {
    connections++;
    c.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  conn?.close();
  await new Promise<void>((r) => server.close(() => r()));
  db.cleanup();
});

/** Run `code` (CommonJS, prints one JSON line) as the sandbox process would run; its parsed output. */
function inSandbox(code: string): Record<string, unknown> {
  const launch = sandboxLaunch(
    { context: { module: import.meta.resolve('@insitu/adapters/sqlite-context'), database: db.path } },
    PACKAGE_FILES,
    null,
  );
  expect(launch.bwrap, 'bubblewrap is the default').not.toBeNull();
  const args = [...launch.bwrap!.args, process.execPath, '-e', code, String(process.pid), String(port), db.path];
  const r = spawnSync(launch.bwrap!.path, args, { encoding: 'utf8', env: { MALLOC_ARENA_MAX: '2' }, timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

const ARGS = `const [enginePid, port, dbPath] = process.argv.slice(1); const fs = require('fs'); const out = {};`;

describe('OS sandbox (bubblewrap), with arbitrary JavaScript inside', () => {
  it('sees no host file it was not given', () => {
    const out = inSandbox(`${ARGS}
out.root = fs.readdirSync('/').sort();
for (const p of ['/etc/passwd', '/root', '/home', '/proc/1/environ', require('path').dirname(dbPath) + '/../']) {
  try { out[p] = fs.readdirSync(p).length >= 0 && fs.statSync(p).isDirectory() ? 'listed: ' + fs.readdirSync(p).join(',') : fs.readFileSync(p, 'utf8').slice(0, 50); } catch (e) { out[p] = e.code; }
}
out.dbDir = fs.readdirSync(require('path').dirname(dbPath)).sort();
out.libs = fs.readdirSync('/usr/lib/x86_64-linux-gnu').length;
console.log(JSON.stringify(out));`);
    expect(out['root']).not.toContain('etc');
    expect(out['root']).not.toContain('home');
    expect(out['root']).not.toContain('root');
    expect(out['/etc/passwd']).toBe('ENOENT');
    expect(out['/root']).toBe('ENOENT');
    expect(out['/home']).toBe('ENOENT');
    // Only the libraries of the programs it runs, not the system's hundreds.
    expect(out['libs']).toBeLessThan(40);
    // Only the database file and its WAL files are mounted from the database's directory.
    expect(out['dbDir']).toEqual(['test.db', 'test.db-shm', 'test.db-wal']);
  });

  it('cannot see or signal the engine process', () => {
    const out = inSandbox(`${ARGS}
out.pids = fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).map(Number);
try { process.kill(Number(enginePid), 0); out.signal = 'delivered'; } catch (e) { out.signal = e.code; }
out.ppid = process.ppid;
console.log(JSON.stringify(out));`);
    expect(out['signal']).toBe('ESRCH');
    expect(out['pids']).not.toContain(process.pid);
    expect(Math.max(...(out['pids'] as number[]))).toBeLessThan(10);
  });

  it('has no network but a loopback of its own', () => {
    connections = 0;
    const out = inSandbox(`${ARGS}
out.interfaces = Object.keys(require('os').networkInterfaces());
const s = require('net').connect(Number(port), '127.0.0.1');
s.on('connect', () => { out.connect = 'connected'; done(); });
s.on('error', (e) => { out.connect = e.code; done(); });
function done() { console.log(JSON.stringify(out)); process.exit(0); }`);
    expect(out['interfaces']).toEqual(['lo']);
    expect(out['connect']).toBe('ECONNREFUSED');
    expect(connections).toBe(0);
  });

  it('can create no file anywhere, and cannot load code from the writable database files', () => {
    const out = inSandbox(`${ARGS}
const dir = require('path').dirname(dbPath);
for (const p of ['/evil.so', '/dev/shm/evil.so', dir + '/evil.so', '/usr/evil.so', process.execPath + '.so']) {
  try { fs.writeFileSync(p, 'x'); out[p] = 'written'; } catch (e) { out[p] = e.code; }
}
// A real shared library written into a writable file: mapping it as code must fail (noexec).
const lib = fs.readdirSync('/usr/lib/x86_64-linux-gnu').find((f) => f.startsWith('libm.so')) ?? 'libm.so.6';
try {
  fs.writeFileSync(dbPath + '-wal', fs.readFileSync('/usr/lib/x86_64-linux-gnu/' + lib));
  out.written = fs.readFileSync(dbPath + '-wal').subarray(1, 4).toString();
  process.dlopen({ exports: {} }, dbPath + '-wal');
  out.dlopen = 'loaded';
} catch (e) { out.dlopen = e.message; }
const status = fs.readFileSync('/proc/self/status', 'utf8');
out.capEff = /CapEff:\\s*(\\w+)/.exec(status)[1];
out.capBnd = /CapBnd:\\s*(\\w+)/.exec(status)[1];
out.noNewPrivs = /NoNewPrivs:\\s*(\\d)/.exec(status)[1];
console.log(JSON.stringify(out));`);
    for (const p of ['/evil.so', '/dev/shm/evil.so', `${db.dir}/evil.so`, '/usr/evil.so']) expect(out[p], p).toMatch(/^(EROFS|EACCES|ENOENT)$/);
    expect(out['written']).toBe('ELF');
    expect(out['dlopen']).toMatch(/failed to map segment/);
    expect(out['capEff']).toMatch(/^0+$/);
    expect(out['capBnd']).toMatch(/^0+$/);
    expect(out['noNewPrivs']).toBe('1');
  });
});
