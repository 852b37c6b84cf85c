// insitu.connect() and insitu.ds inside UDFs on PostgreSQL storage, in both isolations. The workers
// (and the sandbox process around them) have no network: the engine answers their SQL on one session per
// partition, held on one pooled connection (see pg-context-session.ts). Runs in the `postgres` project only.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

/** Rows of a statement run by psql on a connection of the test's own, every value as text. */
function psql(url: string, text: string): string[][] {
  const out = execFileSync('psql', [url, '-X', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', text], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

describe.each(['process', 'thread'] as const)('insitu.connect() on PostgreSQL (isolation: %s)', (isolation) => {
  let engine: Engine;
  let alice: Session;
  let bob: Session;
  const db = tempDatabase();

  beforeAll(async () => {
    engine = await createEngine({ database: db.path, workers: 2, isolation, interruptGraceMs: 300 });
    alice = engine.session({ user: 'alice' });
    bob = engine.session({ user: 'bob' });
    await alice.create('ITEMS', [{ v: 1 }, { v: 2 }, { v: 3 }]);
  });
  afterAll(async () => {
    await engine?.close();
    db.cleanup();
  });

  async function values(table: string): Promise<number[]> {
    return (await alice.query(`SELECT v FROM ${table} ORDER BY v`).pull()).toArray().map((r) => Number(r.v));
  }

  /** Sessions of the engine's pool that are inside a transaction or running a statement now. */
  function busyConnections(): string[][] {
    return psql(
      db.path,
      `SELECT state, left(query, 60) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'`,
    );
  }

  it("reads with the caller's privileges: own tables, not another user's, never engine tables or catalogs", async () => {
    const read = 'import insitu\ndef f(sql):\n    return insitu.connect().query(sql)["v"]';
    const mine = await alice.doEval({ source: 'import insitu\ndef f():\n    return [int(x) for x in insitu.connect().query("SELECT v FROM ITEMS WHERE v >= ? ORDER BY v", [2])["v"]]' });
    expect(mine.value).toEqual([2, 3]);
    await rejectsWith(bob.doEval({ source: read }, { args: { sql: 'SELECT v FROM ITEMS' } }), 'TABLE_NOT_FOUND');
    await rejectsWith(alice.doEval({ source: read }, { args: { sql: 'SELECT * FROM insitu_engine_users' } }), 'BAD_INPUT');
    await rejectsWith(alice.doEval({ source: read }, { args: { sql: 'SELECT rolname AS v FROM pg_catalog.pg_authid' } }), 'TABLE_NOT_FOUND');
    await rejectsWith(alice.doEval({ source: read }, { args: { sql: "SELECT pg_read_file('/etc/passwd') AS v" } }), 'PRIVILEGE');
  });

  it("is read-only unless the call's context is 'write'", async () => {
    await alice.create('RO', [{ v: 1 }], { overwrite: true });
    const insert = 'import insitu\ndef f():\n    return insitu.connect().execute("INSERT INTO RO VALUES (?)", [7])';
    const e = await rejectsWith(alice.doEval({ source: insert }), 'PRIVILEGE');
    expect(e.message).toMatch(/context: 'write'/);
    expect(await values('RO')).toEqual([1]);
    expect((await alice.doEval({ source: insert }, { context: 'write' })).value).toBe(1);
    expect(await values('RO')).toEqual([1, 7]);
  });

  it('commits SQL writes and datastore saves of a partition together, or neither', async () => {
    await alice.create('OUT', [{ v: 0 }], { overwrite: true });
    const src = (fail: boolean) => `import insitu
def f():
    insitu.connect().execute("INSERT INTO OUT VALUES (5)")
    insitu.ds.save({"x": 1}, "${fail ? 'half' : 'whole'}", overwrite=True)
    assert insitu.ds.load("${fail ? 'half' : 'whole'}")["x"] == 1
    ${fail ? 'raise ValueError("after the writes")' : 'return len(insitu.connect().query("SELECT v FROM OUT"))'}`;
    const e = await rejectsWith(alice.doEval({ source: src(true) }, { context: 'write' }), 'PYTHON_ERROR');
    expect(e.committedPartitions).toEqual([]);
    expect(await values('OUT')).toEqual([0]);
    expect((await alice.datastores.list()).map((d) => d.name)).not.toContain('half');
    // A partition sees its own uncommitted writes.
    expect((await alice.doEval({ source: src(false) }, { context: 'write' })).value).toBe(2);
    expect(await values('OUT')).toEqual([0, 5]);
    expect(await alice.datastores.load('whole')).toEqual({ x: 1 });
  });

  it('undoes only the failed statement a UDF caught, as on SQLite', async () => {
    await alice.create('CAUGHT', [{ v: 0 }], { overwrite: true });
    const src = `import insitu
def f():
    c = insitu.connect()
    c.execute("INSERT INTO CAUGHT VALUES (1)")
    try:
        c.execute("INSERT INTO CAUGHT VALUES ('not a number')")
    except insitu.InsituError as e:
        pass
    c.execute("INSERT INTO CAUGHT VALUES (2)")
    return "done"`;
    expect((await alice.doEval({ source: src }, { context: 'write' })).value).toBe('done');
    expect(await values('CAUGHT')).toEqual([0, 1, 2]);
  });

  it('leaves no connection in a transaction after calls that end, fail, time out or lose their worker, and keeps none of their writes', async () => {
    await alice.create('LEAK', [{ v: 0 }], { overwrite: true });
    const write = (tail: string) => `import insitu, sys, time\ndef f():\n    insitu.connect().execute("INSERT INTO LEAK VALUES (1)")\n    ${tail}`;
    await alice.doEval({ source: write('return 1') }, { context: 'write' });
    await rejectsWith(alice.doEval({ source: write('raise ValueError("x")') }, { context: 'write' }), 'PYTHON_ERROR');
    await rejectsWith(alice.doEval({ source: write('time.sleep(30)') }, { context: 'write', timeoutMs: 1500 }), 'TIMEOUT');
    await rejectsWith(alice.doEval({ source: write('while True: pass') }, { context: 'write', timeoutMs: 1500 }), 'TIMEOUT');
    const crash = write('sys.setrecursionlimit(10**8)\n    def r(n): return r(n + 1) + 1\n    return r(0)');
    await rejectsWith(alice.doEval({ source: crash }, { context: 'write' }), 'RUNTIME_ERROR');
    // A statement that waits for a lock when its call is stopped is cancelled, and its transaction ends.
    const holder = alice.doEval({ source: 'import insitu, time\ndef f():\n    insitu.connect().execute("UPDATE LEAK SET v = 2 WHERE v = 0")\n    time.sleep(2)' }, { context: 'write' });
    await new Promise((r) => setTimeout(r, 500));
    const waiter = alice.doEval({ source: 'import insitu\ndef f():\n    insitu.connect().execute("UPDATE LEAK SET v = 3 WHERE v = 0")' }, { context: 'write', timeoutMs: 500 });
    await rejectsWith(waiter, 'TIMEOUT');
    await holder;
    expect(await values('LEAK')).toEqual([1, 2]);
    expect(busyConnections()).toEqual([]);
  });

  it('gives the sandbox no network: a UDF cannot reach the database server itself', async () => {
    // PostgreSQL answers an SSLRequest at once ('S' or 'N'): any answer means the UDF reached it.
    const src = `import socket
def f():
    try:
        s = socket.create_connection(("127.0.0.1", 5432), timeout=2)
        s.settimeout(2)
        s.sendall(bytes([0, 0, 0, 8, 4, 210, 22, 47]))
        got = s.recv(1)
    except OSError as e:
        return "refused: " + str(e)
    return "answered: " + repr(got) if got else "no answer"`;
    const r = await alice.doEval({ source: src }).then(
      (x) => String(x.value),
      (e: { code: string; message: string }) => `failed: ${e.code} ${e.message}`,
    );
    expect(r).not.toMatch(/^answered/);
    // And insitu.connect() still works from the same worker: it never needed the network.
    expect((await alice.doEval({ source: 'import insitu\ndef f():\n    return len(insitu.connect().query("SELECT v FROM ITEMS"))' })).value).toBe(3);
  });
});
