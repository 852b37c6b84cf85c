import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';
import { writeMirror } from './package-mirror.js';

/**
 * Attacks on what one user can make the engine fetch and hold: packages outside the engine's
 * allowlist, more archives than the cache holds, an archive that streams without end, and downloads
 * of calls that were cancelled or timed out. One engine on an http mirror served here, which counts
 * what it is asked for and sees when a client goes away.
 */

const KIB = 1024;
/** Each padded package's wheel is a little over 40 KiB: three do not fit the 100 KiB cache. */
const PAD = 'x'.repeat(40 * KIB);
const CACHE_BYTES = 100 * KIB;
const MAX_ARCHIVE = 1024 * KIB;

const padded = (name: string): { modules: Record<string, string> } => ({
  modules: { [`${name}/__init__.py`]: `VALUE = "${name}"\nPAD = "${PAD}"\n` },
});

let engine: Engine;
let db: ReturnType<typeof tempDatabase>;
let server: Server;
let mirror: string;
/** Requests per path. */
const requests = new Map<string, number>();
/** Paths whose response was cut off by the client before it ended. */
const cutOff = new Set<string>();
/** Bytes the endless archive sent before its client went away. */
let endlessSent = 0;
/** Paths answered 404 from now on (the mirror lost them). */
const gone = new Set<string>();
/** Held responses: the first chunk is sent, the rest once the test releases them. */
const held = new Map<string, () => void>();
const releases = new Map<string, Promise<void>>();

function hold(path: string): void {
  let release!: () => void;
  releases.set(path, new Promise<void>((r) => (release = r)));
  held.set(path, release);
}

const count = (file: string): number => requests.get(`/${file}`) ?? 0;

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function serve(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  requests.set(path, (requests.get(path) ?? 0) + 1);
  res.on('close', () => {
    if (!res.writableFinished) cutOff.add(path);
  });
  if (gone.has(path)) {
    res.writeHead(404).end();
    return;
  }
  if (path === '/endless.whl') {
    // No Content-Length, and never an end: zeros as fast as the client takes them.
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * KIB);
    const pump = (): void => {
      while (!res.destroyed) {
        endlessSent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
    return;
  }
  if (path === '/liar.whl') {
    res.writeHead(200, { 'content-length': String(1024 * 1024 * 1024) });
    res.write(Buffer.alloc(KIB));
    return;
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(mirror, path.slice(1)));
  } catch {
    res.writeHead(404).end();
    return;
  }
  const release = releases.get(path);
  res.writeHead(200, { 'content-length': String(bytes.length) });
  if (release === undefined) {
    res.end(bytes);
    return;
  }
  res.write(bytes.subarray(0, 100));
  void release.then(() => {
    if (!res.destroyed) res.end(bytes.subarray(100));
  });
}

beforeAll(async () => {
  db = tempDatabase();
  mirror = join(db.dir, 'mirror');
  writeMirror(mirror, {
    p1: padded('p1'),
    p2: padded('p2'),
    p3: padded('p3'),
    secret: { modules: { 'secret/__init__.py': 'VALUE = "secret"\n' } },
    slow: padded('slow'),
    shared: padded('shared'),
    lonely: padded('lonely'),
    endless: { modules: { 'endless/__init__.py': '' } },
    liar: { modules: { 'liar/__init__.py': '' } },
  });
  // The two attackers' archives are served by the handler, not from files.
  const lockPath = join(mirror, 'pyodide-lock.json');
  const lock = JSON.parse(readFileSync(lockPath, 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  lock.packages['endless']!['file_name'] = 'endless.whl';
  lock.packages['liar']!['file_name'] = 'liar.whl';
  writeFileSync(lockPath, JSON.stringify(lock));
  server = createServer(serve);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  engine = await createEngine({
    database: db.path,
    workers: 2,
    packageIndex: `http://127.0.0.1:${port}/`,
    // Normalised when compared: 'P1' allows p1.
    allowPackages: ['P1', 'p2', 'p3', 'slow', 'shared', 'lonely', 'endless', 'liar'],
    packageCacheBytes: CACHE_BYTES,
    maxArchiveBytes: MAX_ARCHIVE,
  });
}, 180_000);

afterAll(async () => {
  await engine?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  db?.cleanup();
});

const importing = (mod: string): { source: string; name: string } => ({ source: `import ${mod}\ndef f():\n    return ${mod}.VALUE\n`, name: 'f' });

const alive = async (): Promise<void> => {
  const r = await engine.session({ user: 'alice' }).doEval({ source: 'def f():\n    return 42\n', name: 'f' });
  expect(r.value).toBe(42);
};

describe('allowPackages', () => {
  it('a package of the index that the engine does not allow is PRIVILEGE, and nothing is fetched', async () => {
    const me = engine.session({ user: 'mallory' });
    const e = await rejectsWith(me.doEval(importing('secret'), { packages: ['p1', 'secret'] }), 'PRIVILEGE');
    expect(e.message).toMatch(/secret.*allowPackages/);
    expect(count('secret-1.0-py3-none-any.whl')).toBe(0);
    // Spelt otherwise, and as a job: refused the same way, when it is submitted.
    await rejectsWith(me.doEval(importing('secret'), { packages: ['SECRET'] }), 'PRIVILEGE');
    await rejectsWith(me.jobs.submit({ kind: 'doEval', func: importing('secret'), options: { packages: ['secret'] } }), 'PRIVILEGE');
    expect(count('secret-1.0-py3-none-any.whl')).toBe(0);
  });

  it("an environment the engine's owner creates may hold it, and calls in it run; its archives stay when the mirror loses them", async () => {
    await engine.environments.create('owners', { packages: ['secret'] });
    const me = engine.session({ user: 'mallory' });
    expect((await me.doEval(importing('secret'), { env: 'owners' })).value).toBe('secret');
    gone.add('/secret-1.0-py3-none-any.whl');
    // Cache churn: three padded archives through a 100 KiB cache.
    for (const p of ['p1', 'p2', 'p3']) expect((await me.doEval(importing(p), { packages: [p] })).value).toBe(p);
    expect((await me.doEval(importing('secret'), { env: 'owners' })).value).toBe('secret');
    // With packages of its own the call's set is resolved anew: the environment's archive is taken
    // from the environment, not fetched (the mirror no longer has it).
    expect((await me.doEval({ source: 'import secret, p1\ndef f():\n    return secret.VALUE + p1.VALUE\n', name: 'f' }, { env: 'owners', packages: ['p1'] })).value).toBe('secretp1');
    expect(count('secret-1.0-py3-none-any.whl')).toBe(1);
    // A call's own packages in the environment are still held to the allowlist.
    await rejectsWith(me.doEval(importing('secret'), { env: 'owners', packages: ['secret'] }), 'PRIVILEGE');
  });

  it('allowPackages must be "index" or a list of names', async () => {
    await rejectsWith(createEngine({ database: ':memory:', allowPackages: 'any' as unknown as 'index', snapshotDir: false }), 'BAD_INPUT');
    await rejectsWith(createEngine({ database: ':memory:', allowPackages: ['../x'], snapshotDir: false }), 'BAD_INPUT');
    await rejectsWith(createEngine({ database: ':memory:', packageCacheBytes: -1, snapshotDir: false }), 'BAD_INPUT');
    await rejectsWith(createEngine({ database: ':memory:', maxArchiveBytes: 1.5, snapshotDir: false }), 'BAD_INPUT');
  });
});

describe('packageCacheBytes', () => {
  it('keeps the most recently used archives within its bytes and fetches an evicted one again', async () => {
    const me = engine.session({ user: 'bob' });
    const file = (p: string): string => `${p}-1.0-py3-none-any.whl`;
    const before = { p1: count(file('p1')), p2: count(file('p2')), p3: count(file('p3')) };
    // Used in this order: p1, p2, p3 (p1 is the least recently used, and 3 x 40 KiB > 100 KiB).
    for (const p of ['p1', 'p2', 'p3']) expect((await me.doEval(importing(p), { packages: [p] })).value).toBe(p);
    const afterFill = { p1: count(file('p1')), p2: count(file('p2')), p3: count(file('p3')) };
    // p2 and p3 are still held: no new request for them.
    expect((await me.doEval(importing('p3'), { packages: ['p3'] })).value).toBe('p3');
    expect((await me.doEval(importing('p2'), { packages: ['p2'] })).value).toBe('p2');
    expect(count(file('p2'))).toBe(afterFill.p2);
    expect(count(file('p3'))).toBe(afterFill.p3);
    // p1 was dropped: it is fetched (and checked) again, and works.
    expect((await me.doEval(importing('p1'), { packages: ['p1'] })).value).toBe('p1');
    expect(count(file('p1'))).toBe(afterFill.p1 + 1);
    expect(afterFill.p1).toBeGreaterThanOrEqual(before.p1);
  });

  it("one call's packages together past packageCacheBytes are PACKAGE_TOO_LARGE, and the engine serves on", async () => {
    const me = engine.session({ user: 'mallory' });
    const e = await rejectsWith(me.doEval(importing('p1'), { packages: ['p1', 'p2', 'p3'] }), 'PACKAGE_TOO_LARGE');
    expect(e.message).toMatch(/packageCacheBytes/);
    await alive();
  });
});

describe('maxArchiveBytes', () => {
  it('an archive that streams without end is stopped once it passes maxArchiveBytes, long before the fetch timeout', async () => {
    const me = engine.session({ user: 'mallory' });
    const t0 = Date.now();
    const e = await rejectsWith(me.doEval(importing('endless'), { packages: ['endless'] }), 'PACKAGE_TOO_LARGE');
    expect(e.message).toMatch(/maxArchiveBytes/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await until(() => cutOff.has('/endless.whl'));
    // What was sent is the cap plus what the sockets buffer, not a stream held for 120 s.
    expect(endlessSent).toBeLessThan(32 * MAX_ARCHIVE);
    await alive();
  });

  it('an archive whose Content-Length passes the cap is refused before its body is read', async () => {
    const me = engine.session({ user: 'mallory' });
    const e = await rejectsWith(me.doEval(importing('liar'), { packages: ['liar'] }), 'PACKAGE_TOO_LARGE');
    expect(e.message).toMatch(/larger than 1048576 bytes/);
    await until(() => cutOff.has('/liar.whl'));
  });
});

describe("downloads follow the call's signal and timeout", () => {
  it("a call's timeoutMs stops its download (TIMEOUT), and the next call fetches the archive afresh", async () => {
    const path = '/slow-1.0-py3-none-any.whl';
    hold(path);
    const me = engine.session({ user: 'mallory' });
    const t0 = Date.now();
    await rejectsWith(me.doEval(importing('slow'), { packages: ['slow'], timeoutMs: 500 }), 'TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(5_000);
    // Nobody else waited for it: the engine hung up.
    await until(() => cutOff.has(path));
    releases.delete(path);
    held.get(path)!();
    expect((await me.doEval(importing('slow'), { packages: ['slow'] })).value).toBe('slow');
    expect(count(path.slice(1))).toBe(2);
  });

  it('a cancelled call does not fail another call waiting on the same archive: one download serves it', async () => {
    const path = '/shared-1.0-py3-none-any.whl';
    hold(path);
    const ac = new AbortController();
    const a = engine.session({ user: 'mallory' }).doEval(importing('shared'), { packages: ['shared'], signal: ac.signal });
    const b = engine.session({ user: 'bob' }).doEval(importing('shared'), { packages: ['shared'] });
    await until(() => count(path.slice(1)) === 1);
    ac.abort();
    await rejectsWith(a, 'CANCELLED');
    expect(cutOff.has(path)).toBe(false);
    held.get(path)!();
    expect((await b).value).toBe('shared');
    expect(count(path.slice(1))).toBe(1);
  });

  it('when every call waiting on a download is cancelled, the download stops', async () => {
    const path = '/lonely-1.0-py3-none-any.whl';
    hold(path);
    const a = new AbortController();
    const b = new AbortController();
    const pa = engine.session({ user: 'mallory' }).doEval(importing('lonely'), { packages: ['lonely'], signal: a.signal });
    const pb = engine.session({ user: 'bob' }).doEval(importing('lonely'), { packages: ['lonely'], signal: b.signal });
    await until(() => count(path.slice(1)) === 1);
    a.abort();
    await rejectsWith(pa, 'CANCELLED');
    await new Promise((r) => setTimeout(r, 200));
    expect(cutOff.has(path)).toBe(false);
    b.abort();
    await rejectsWith(pb, 'CANCELLED');
    await until(() => cutOff.has(path));
    held.get(path)!();
    await alive();
  });
});
