import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStorage } from '@insitu/adapters';
import { createEngine } from 'insitu';
import pg from 'pg';
import { rejectsWith, tempDatabase } from './helpers.js';

// Attacks on the PostgreSQL storage by a user whose UDFs and SQL are hostile (issue 18, red team).
// PostgreSQL only (project `postgres`): each one aims at something of PostgreSQL itself (temporary
// schemas, CREATE TABLE ... LIKE); the SQLite adapter has suites of its own (redteam-sql).

type Engine = Awaited<ReturnType<typeof createEngine>>;
type Session = ReturnType<Engine['session']>;

let db: ReturnType<typeof tempDatabase>;
let engine: Engine;
let alice: Session;
let mallory: Session;

/** A UDF that runs each statement through insitu.connect() and returns what happened, one line each. */
const RUN_ALL = `import insitu
def run_all(df, statements):
    conn = insitu.connect()
    out = []
    for sql in statements:
        try:
            if sql.lstrip().upper().startswith(("SELECT", "WITH", "TABLE")):
                out.append("rows " + str(len(conn.query(sql, input_type="records"))))
            else:
                out.append("done " + str(conn.execute(sql)))
        except Exception as e:
            out.append("error " + getattr(e, "code", type(e).__name__) + ": " + str(e)[:200])
    return {"out": out}
`;

/** Run `statements` in one partition of mallory's, in a write context; what each one did. */
async function malloryRuns(statements: readonly string[]): Promise<string[]> {
  const mine = mallory.table('mine');
  const r = await mallory.rowApply(mine, 'run_all', { context: 'write', args: { statements: [...statements] } });
  const value = r.value as { getChild(name: string): { toArray(): unknown } | null };
  return [...(value.getChild('out')!.toArray() as Iterable<string>)];
}

beforeAll(async () => {
  db = tempDatabase();
  // busyTimeoutMs: how long a user statement waits for another transaction's lock (kept short here).
  // statementTimeoutMs: how long one user statement may run (kept short here).
  engine = await createEngine({ database: db.path, workers: 1, busyTimeoutMs: 2000, statementTimeoutMs: 3000 });
  alice = engine.session({ user: 'alice' });
  mallory = engine.session({ user: 'mallory' });
  await alice.create('secret', [{ pw: 'hunter2' }]);
  await mallory.create('mine', [{ a: 1 }]);
  await mallory.scripts.create('run_all', RUN_ALL);
  await mallory.scripts.create(
    'hold_lock',
    'import insitu, time\ndef hold_lock(df):\n    insitu.connect().execute("DROP TABLE locked")\n    time.sleep(12)\n    raise ValueError("undone")\n',
  );
});

afterAll(async () => {
  await engine?.close();
  db?.cleanup();
});

describe('red team: PostgreSQL storage', () => {
  it('SELECT ... INTO in the first arm of a UNION cannot make a temporary table that shadows the engine tables', async () => {
    // PostgreSQL turns `SELECT ... INTO` of a set operation's leftmost arm into CREATE TABLE AS; a
    // temporary table comes first on the search path, so one named like an engine table would answer the
    // engine's own owner lookups on that pooled connection: mallory would own alice's table.
    const out = await malloryRuns([
      `SELECT 'secret'::text AS name, 'mallory'::text AS owner INTO TEMP insitu_engine_table_owners UNION ALL SELECT 'mine', 'mallory'`,
      'SELECT * FROM secret',
    ]);
    expect(out[0]).toMatch(/^error /);
    expect(out[1]).toMatch(/^error TABLE_NOT_FOUND/);
    await rejectsWith(() => mallory.query('SELECT * FROM secret').pull(), 'TABLE_NOT_FOUND');
  });

  it('SELECT ... INTO in a UNION arm cannot create an untracked table either', async () => {
    const out = await malloryRuns([`SELECT 1 AS a INTO insitu_engine_later UNION SELECT 2`, 'SELECT * FROM insitu_engine_later']);
    expect(out[0]).toMatch(/^error /);
    expect(await engine.tables.owner('insitu_engine_later').catch(() => null)).toBeNull();
  });

  it('CREATE TABLE ... (LIKE t) needs read access to t: it copies its columns', async () => {
    const out = await malloryRuns(['CREATE TABLE copy_of_secret (LIKE secret INCLUDING ALL)', 'SELECT * FROM copy_of_secret']);
    expect(out[0]).toMatch(/^error TABLE_NOT_FOUND/);
    expect(out[1]).toMatch(/^error TABLE_NOT_FOUND/);
    // Of a table one may read it works (no alias may follow the name there).
    expect(await malloryRuns(['CREATE TABLE copy_of_mine (LIKE mine)', 'SELECT * FROM copy_of_mine'])).toEqual(['done 0', 'rows 0']);
  });

  it('queries waiting on a lock a partition holds cannot take the whole pool: another user is still served', async () => {
    // mallory's partition drops a table of hers (ACCESS EXCLUSIVE, held until the partition ends) and
    // sleeps; her queries of that table queue on the lock, each holding one of the pool's connections.
    await mallory.create('locked', [{ a: 1 }]);
    const holding = mallory.rowApply(mallory.table('mine'), 'hold_lock', { context: 'write' }).then(
      () => 'succeeded',
      (e: { code?: string }) => e.code,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const waiting = Array.from({ length: 12 }, () =>
      mallory
        .query('SELECT * FROM locked')
        .pull()
        .then(
          () => 'read',
          (e: { code?: string }) => e.code,
        ),
    );
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const hers = await alice.query('SELECT * FROM secret').pull();
    const waited = Date.now() - started;
    expect(hers.numRows).toBe(1);
    // Served once the lock waits time out (busyTimeoutMs), not when mallory's partition ends (12 s).
    expect(waited).toBeLessThan(6000);
    expect(await Promise.all(waiting)).toContain('STORAGE_ERROR');
    expect(await holding).toBe('PYTHON_ERROR');
  }, 40_000);

  it('a view of a table one may only read does not let one write that table', async () => {
    await alice.create('shared', [{ v: 'original' }]);
    await alice.grant({ table: 'shared', to: 'mallory', privilege: 'read' });
    const out = await malloryRuns([
      'CREATE VIEW through_view AS SELECT * FROM shared',
      "UPDATE through_view SET v = 'defaced'",
      "INSERT INTO through_view VALUES ('added')",
      'DELETE FROM through_view',
      'SELECT * FROM through_view',
    ]);
    expect(out).toEqual([
      'done 0',
      expect.stringMatching(/^error PRIVILEGE/),
      expect.stringMatching(/^error PRIVILEGE/),
      expect.stringMatching(/^error PRIVILEGE/),
      'rows 1',
    ]);
    expect((await alice.query('SELECT v FROM shared').pull()).toArray().map((r) => String(r.v))).toEqual(['original']);
  });

  it("a reader's view over a table does not keep its owner from replacing or dropping it", async () => {
    await alice.create('pinned', [{ v: 1 }]);
    await alice.grant({ table: 'pinned', to: 'mallory', privilege: 'read' });
    expect(await malloryRuns(['CREATE VIEW pin AS SELECT * FROM pinned'])).toEqual(['done 0']);
    await alice.create('pinned', [{ v: 2 }], { overwrite: true });
    expect((await alice.query('SELECT v FROM pinned').pull()).toArray().map((r) => Number(r.v))).toEqual([2]);
    // The view went with the table it read (on SQLite it would stop working).
    await rejectsWith(() => mallory.query('SELECT * FROM pin').pull(), 'TABLE_NOT_FOUND');

    await alice.grant({ table: 'pinned', to: 'mallory', privilege: 'read' });
    expect(await malloryRuns(['CREATE VIEW pin AS SELECT * FROM pinned'])).toEqual(['done 0']);
    await alice.scripts.create('run_all', RUN_ALL);
    const r = await alice.rowApply(alice.table('pinned'), 'run_all', { context: 'write', args: { statements: ['DROP TABLE pinned'] } });
    const value = r.value as { getChild(name: string): { toArray(): unknown } | null };
    expect([...(value.getChild('out')!.toArray() as Iterable<string>)]).toEqual(['done 0']);
    await rejectsWith(() => engine.tables.owner('pinned'), 'TABLE_NOT_FOUND');
  });

  it("a UDF's statement is cancelled after statementTimeoutMs, as a query proxy's is", async () => {
    // A call has no time limit unless its caller sets one: without the statement timeout a cartesian
    // product from insitu.connect() would keep a server process busy and a pooled connection taken.
    const started = Date.now();
    const out = await malloryRuns(['SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b']);
    expect(out[0]).toMatch(/^error TIMEOUT/);
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 25_000);
});

describe('red team: PostgreSQL storage, holes left open', () => {
  /** A zero-row SELECT of each column kind PostgreSQL storage reads (and of `json`, read as text). */
  const ZERO_ROW_SELECTS = [
    "SELECT 'x'::text AS v WHERE false",
    'SELECT 1::int4 AS v WHERE false',
    'SELECT 1::int8 AS v WHERE false',
    'SELECT 1.5::float8 AS v WHERE false',
    'SELECT 1.5::numeric AS v WHERE false',
    'SELECT true AS v WHERE false',
    "SELECT '\\x00'::bytea AS v WHERE false",
    "SELECT '2024-01-01'::date AS v WHERE false",
    "SELECT '2024-01-01 00:00'::timestamp AS v WHERE false",
    "SELECT '2024-01-01 00:00+00'::timestamptz AS v WHERE false",
    `SELECT '{"a":1}'::json AS v WHERE false`,
  ];

  it('a zero-row result of every column kind reads as an empty table, in insitu.connect() and in a query', async () => {
    await mallory.scripts.create(
      'zero_rows',
      'import insitu\ndef zero_rows(df, statements):\n    conn = insitu.connect()\n    out = []\n    for sql in statements:\n        try:\n            out.append("rows " + str(len(conn.query(sql))))\n        except Exception as e:\n            out.append("error " + str(e)[:200])\n    return {"out": out}\n',
    );
    const r = await mallory.rowApply(mallory.table('mine'), 'zero_rows', { args: { statements: ZERO_ROW_SELECTS } });
    const value = r.value as { getChild(name: string): { toArray(): unknown } | null };
    expect([...(value.getChild('out')!.toArray() as Iterable<string>)]).toEqual(ZERO_ROW_SELECTS.map(() => 'rows 0'));
    for (const sql of ZERO_ROW_SELECTS) {
      const t = await mallory.query(sql).pull();
      expect([sql, t.numRows, t.schema.fields.map((f) => f.name)]).toEqual([sql, 0, ['v']]);
    }
  });

  it('TABLE t, FROM ONLY (t) and FROM t * read the table, in insitu.connect() and in a query', async () => {
    const forms = ['TABLE mine', 'SELECT * FROM ONLY (mine)', 'SELECT * FROM ONLY mine', 'SELECT * FROM mine *'];
    expect(await malloryRuns(forms)).toEqual(forms.map(() => 'rows 1'));
    // query() takes SELECT, WITH and VALUES only (on both backends): TABLE t is for insitu.connect().
    for (const sql of forms.slice(1)) expect([sql, (await mallory.query(sql).pull()).numRows]).toEqual([sql, 1]);
  });

  it("engine-side writes do not wait without limit on a lock another transaction holds", async () => {
    // Another transaction holds SHARE on alice's table for 8 s, as a write-context partition that read or
    // indexed it would until it ends (psql here, so the one worker stays free for alice's calls).
    // create(overwrite) and into 'replace' need ACCESS EXCLUSIVE, into 'append' ROW EXCLUSIVE.
    await alice.create('pinned_by_reader', [{ v: 1 }]);
    await alice.scripts.create('ident', 'def ident(df):\n    return df\n');
    const holder = spawn('psql', [db.path, '-X', '-q', '-c', 'BEGIN; LOCK TABLE pinned_by_reader IN SHARE MODE; SELECT pg_sleep(8); COMMIT']);
    const held = new Promise((r) => holder.on('exit', r));
    await new Promise((r) => setTimeout(r, 1000));
    const attempts: [string, () => Promise<unknown>][] = [
      ['create overwrite', () => alice.create('pinned_by_reader', [{ v: 2 }], { overwrite: true })],
      ['into replace', () => alice.rowApply(alice.table('pinned_by_reader'), 'ident', { into: { table: 'pinned_by_reader', mode: 'replace' } })],
      ['into append', () => alice.rowApply(alice.table('pinned_by_reader'), 'ident', { into: { table: 'pinned_by_reader', mode: 'append' } })],
    ];
    for (const [what, attempt] of attempts) {
      const started = Date.now();
      const code = await attempt().then(
        () => 'succeeded',
        (e: { code?: string }) => e.code,
      );
      // busyTimeoutMs is 2000 here: each fails at the lock timeout, not when the lock is let go (8 s).
      expect([what, code, Date.now() - started < 4000]).toEqual([what, 'STORAGE_ERROR', true]);
    }
    await held;
    expect((await alice.query('SELECT v FROM pinned_by_reader').pull()).toArray().map((r) => Number(r.v))).toEqual([1]);
  }, 40_000);

  it("one user's statements hold at most half the pool: another user is served at once while they wait", async () => {
    // As above, but mallory's queries wait on the lock (2 s each) holding at most 5 of the 10 connections
    // (her partition's session counts too): alice need not wait for any of them to time out.
    await mallory.create('locked2', [{ a: 1 }]);
    await mallory.scripts.create(
      'hold_lock2',
      'import insitu, time\ndef hold_lock2(df):\n    insitu.connect().execute("DROP TABLE locked2")\n    time.sleep(8)\n    raise ValueError("undone")\n',
    );
    const holding = mallory.rowApply(mallory.table('mine'), 'hold_lock2', { context: 'write' }).then(
      () => 'succeeded',
      (e: { code?: string }) => e.code,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const waiting = Array.from({ length: 10 }, () =>
      mallory
        .query('SELECT * FROM locked2')
        .pull()
        .then(
          () => 'read',
          (e: { code?: string }) => e.code,
        ),
    );
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    expect((await alice.query('SELECT * FROM secret').pull()).numRows).toBe(1);
    // Without the cap alice waits for the first of mallory's lock waits to time out (about 1.7 s).
    expect(Date.now() - started).toBeLessThan(1000);
    // Hers fail at the lock timeout, the last ones perhaps read once the partition has ended.
    expect(await Promise.all(waiting)).toContain('STORAGE_ERROR');
    expect(await holding).toBe('PYTHON_ERROR');
  }, 40_000);

  it('a cancel sent when a session is released never reaches the next statement on its connection', async () => {
    // A storage of the test's own with 2 connections, driven directly so the order is exact: u1's
    // session is released while its statement waits on a lock; the cancel (sent on a pooled connection)
    // has to wait for one, and by then u1's statement has ended and its connection served u3's statement.
    const storage = await PostgresStorage.open(db.path, { maxConnections: 2, busyTimeoutMs: 30_000, statementTimeoutMs: 30_000 });
    const holders: pg.Client[] = [];
    try {
      for (const u of ['u1', 'u2', 'u3']) await storage.createTable(`stray_${u}`, [{ a: 1 }], { owner: u });
      /** A transaction of the test's own holding ACCESS EXCLUSIVE on `table`; commit it to let go. */
      const lock = async (table: string): Promise<pg.Client> => {
        const c = new pg.Client({ connectionString: db.path });
        await c.connect();
        holders.push(c);
        await c.query(`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
        return c;
      };
      const [x1, x2, x3] = [await lock('stray_u1'), await lock('stray_u2'), await lock('stray_u3')];
      const s1 = storage.openContextSession('u1', 'read');
      const s2 = storage.openContextSession('u2', 'read');
      const s3 = storage.openContextSession('u3', 'read');
      const settled = (p: Promise<{ numRows: number }>) =>
        p.then(
          (t) => `rows ${t.numRows}`,
          (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
        );
      const first = settled(s1.query('SELECT * FROM stray_u1', [])); // connection A, waits on x1
      const second = settled(s2.query('SELECT * FROM stray_u2', [])); // connection B, waits on x2
      await new Promise((r) => setTimeout(r, 300));
      const next = settled(s3.query('SELECT * FROM stray_u3', [])); // waits for a connection
      await new Promise((r) => setTimeout(r, 200));
      const released = s1.release(); // cancel queued for a connection, behind u3's statement
      await new Promise((r) => setTimeout(r, 200));
      await x1.query('COMMIT'); // u1's statement ends before its cancel is sent; A (or a new one) serves u3
      await released;
      expect(await first).toBe('rows 1');
      await new Promise((r) => setTimeout(r, 300));
      await x2.query('COMMIT');
      expect(await second).toBe('rows 1');
      await s2.rollback(); // B goes back: the cancel runs now, while u3's statement waits on x3
      await new Promise((r) => setTimeout(r, 500));
      await x3.query('COMMIT');
      expect(await next).toBe('rows 1');
      await s2.release();
      await s3.release();
    } finally {
      await Promise.allSettled(holders.map((c) => c.end()));
      await storage.close();
    }
  }, 30_000);
});
