import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, InsituError, type Engine, type Session } from 'insitu';
import { tempDatabase } from './helpers.js';

/**
 * Red team of "From SQL" (issue 15): the insitu_* table functions run as the user who registered them,
 * and nothing more. Attacks from the README and the source: reaching others' objects and the engine's
 * tables through every argument, persistent SQL objects that would call the functions as someone else,
 * connections shared between users, dropped users, the caller's blocked thread, close.
 */

const db = tempDatabase('redteam-sql.db');
let engine: Engine;
let alice: Session;
let bob: Session;
let carol: Session;
let aliceDb: Database.Database;
let bobDb: Database.Database;
let carolDb: Database.Database;
let raw: Database.Database;

/** Run `sql` on `conn` and return the InsituError it fails with (or the SQLite error, whose code is checked by the caller). */
function failure(conn: Database.Database, sql: string): Error {
  try {
    const stmt = conn.prepare(sql);
    if (stmt.reader) stmt.all();
    else stmt.run();
  } catch (e) {
    return e as Error;
  }
  throw new Error(`expected ${sql} to fail, but it answered`);
}

function insituCode(conn: Database.Database, sql: string): string {
  const e = failure(conn, sql);
  expect(e, `${sql} failed with ${e.message}`).toBeInstanceOf(InsituError);
  return (e as InsituError).code;
}

const q = (s: string): string => `'${s.replaceAll("'", "''")}'`;

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 1, users: 'registered', jobLeaseMs: 2_000, jobPollMs: 200 });
  for (const u of ['alice', 'bob', 'carol']) await engine.users.create(u);
  alice = engine.session({ user: 'alice' });
  bob = engine.session({ user: 'bob' });
  carol = engine.session({ user: 'carol' });
  await alice.create('A_PRIV', [{ SECRET: 'alice-only', N: 1 }]);
  await bob.create('B_OWN', [{ X: 1 }, { X: 2 }]);
  await alice.scripts.create('a_private', 'def a_private():\n    return "alice private code ran"');
  await alice.scripts.create('g_rows', 'def g_rows(df=None, **kw):\n    return 0 if df is None else len(df)', { global: true });
  await alice.scripts.create('g_hello', 'def g_hello(**kw):\n    return "hello"', { global: true });
  await alice.scripts.create(
    'g_busy',
    'import time\ndef g_busy(s=1, **kw):\n    t = time.time()\n    while time.time() - t < s:\n        pass\n    return s',
    { global: true },
  );
  await alice.scripts.create('a_shared', 'def a_shared():\n    return 1');
  await alice.grant({ script: 'a_shared', to: 'carol' });
  await alice.datastores.save('a_ds', { model: { w: [1, 2, 3] } });
  raw = new Database(db.path);
  aliceDb = await alice.sql.register(new Database(db.path));
  bobDb = await bob.sql.register(new Database(db.path));
  carolDb = await carol.sql.register(new Database(db.path));
}, 180_000);

afterAll(async () => {
  for (const c of [raw, aliceDb, bobDb, carolDb]) c?.close();
  await engine?.close();
  db.cleanup();
});

describe('input cannot read what its user may not', () => {
  it("another user's private table, under any spelling, answers as a missing one", () => {
    const inputs = [
      'A_PRIV',
      'a_priv',
      'main.A_PRIV',
      '"A_PRIV"',
      'SELECT * FROM A_PRIV',
      'select * from "main"."a_priv"',
      'SELECT * FROM main . A_PRIV',
      'WITH x AS (SELECT * FROM A_PRIV) SELECT * FROM x',
      'SELECT (SELECT SECRET FROM A_PRIV) AS s',
      'SELECT * FROM B_OWN WHERE X IN (SELECT N FROM A_PRIV)',
      '/* c */ SELECT * FROM A_PRIV -- c',
      'SELECT * FROM B_OWN UNION ALL SELECT N FROM A_PRIV',
    ];
    for (const input of inputs) {
      const code = insituCode(bobDb, `SELECT VALUE FROM insitu_table_eval(${q(input)}, '{}', 'JSON', 'g_rows')`);
      expect(['TABLE_NOT_FOUND', 'BAD_INPUT'], input).toContain(code);
    }
    // Bob's own table works through the same path (the attacks fail for the right reason).
    const ok = bobDb.prepare(`SELECT VALUE FROM insitu_table_eval('B_OWN', '{}', 'JSON', 'g_rows')`).pluck().get();
    expect(JSON.parse(ok as string)).toBe(2);
  });

  it('engine tables and the schema are out of reach, in any case, quoting or schema', () => {
    const inputs = [
      'insitu_engine_users',
      'INSITU_ENGINE_USERS',
      'insitu_engine_scripts',
      'SELECT * FROM insitu_engine_users',
      'SELECT * FROM main."insitu_engine_scripts"',
      'SELECT * FROM [insitu_engine_datastores]',
      'SELECT * FROM `insitu_engine_jobs`',
      'SELECT name, sql FROM sqlite_master',
      'SELECT * FROM sqlite_schema',
      'SELECT * FROM pragma_table_list',
      'SELECT * FROM dbstat',
    ];
    for (const input of inputs) {
      const e = failure(bobDb, `SELECT VALUE FROM insitu_table_eval(${q(input)}, '{}', 'JSON', 'g_rows')`);
      expect(e, `${input}: ${e.message}`).toBeInstanceOf(InsituError);
      expect(['TABLE_NOT_FOUND', 'BAD_INPUT', 'PRIVILEGE'], input).toContain((e as InsituError).code);
    }
  });

  it('input never writes: DML, DDL, pragmas, attach, several statements', () => {
    const before = raw.prepare('SELECT count(*) FROM B_OWN').pluck().get();
    const inputs = [
      'DELETE FROM B_OWN',
      'INSERT INTO B_OWN VALUES (9) RETURNING *',
      'UPDATE B_OWN SET X = 0 RETURNING *',
      'DELETE FROM B_OWN RETURNING *',
      'WITH d AS (SELECT 1) DELETE FROM B_OWN RETURNING *',
      'SELECT * FROM B_OWN; DELETE FROM B_OWN',
      'SELECT * FROM B_OWN; ',
      'DROP TABLE B_OWN',
      'PRAGMA user_version = 7',
      'PRAGMA writable_schema = 1',
      "ATTACH 'x.db' AS x",
      'REPLACE INTO B_OWN VALUES (5) RETURNING *',
      'SELECT * FROM B_OWN WHERE X = ?',
    ];
    for (const input of inputs) {
      const e = failure(bobDb, `SELECT VALUE FROM insitu_table_eval(${q(input)}, '{}', 'JSON', 'g_rows')`);
      // 'SELECT ...; ' with a trailing separator alone is one statement: it may answer; nothing else may.
      expect(e, `${input}: ${e.message}`).toBeInstanceOf(InsituError);
    }
    expect(raw.prepare('SELECT count(*) FROM B_OWN').pluck().get()).toBe(before);
    expect(raw.pragma('user_version', { simple: true })).not.toBe(7);
  });

  it('the functions cannot be nested inside an input query (it runs on the host, which has none)', () => {
    const code = insituCode(bobDb, `SELECT VALUE FROM insitu_table_eval(${q("SELECT * FROM insitu_eval('{}', 'JSON', 'a_private', 'alice')")}, '{}', 'JSON', 'g_rows')`);
    expect(['TABLE_NOT_FOUND', 'BAD_INPUT']).toContain(code);
  });
});

describe("others' scripts, datastores, jobs and grants", () => {
  it("the owner argument does not reach another user's private script", () => {
    for (const owner of ['alice', 'ALICE', 'alice ', '']) {
      const code = insituCode(bobDb, `SELECT VALUE FROM insitu_eval('{}', 'JSON', 'a_private', ${q(owner)})`);
      expect(['SCRIPT_NOT_FOUND', 'BAD_INPUT', 'PRIVILEGE'], owner).toContain(code);
    }
    // Granted to carol, not to bob.
    expect(insituCode(bobDb, `SELECT VALUE FROM insitu_eval('{}', 'JSON', 'a_shared', 'alice')`)).toBe('SCRIPT_NOT_FOUND');
    expect(JSON.parse(carolDb.prepare(`SELECT VALUE FROM insitu_eval('{}', 'JSON', 'a_shared', 'alice')`).pluck().get() as string)).toBe(1);
  });

  it('catalog functions show only what the user may see', () => {
    const scripts = bobDb.prepare('SELECT NAME, OWNER, SCRIPT FROM insitu_scripts()').all() as Array<{ NAME: string; SCRIPT: string | null }>;
    expect(scripts.map((s) => s.NAME)).not.toContain('a_private');
    expect(scripts.map((s) => s.NAME)).not.toContain('a_shared');
    expect(scripts.some((s) => (s.SCRIPT ?? '').includes('alice private code'))).toBe(false);
    expect(bobDb.prepare('SELECT * FROM insitu_datastores()').all()).toEqual([]);
    expect(bobDb.prepare('SELECT * FROM insitu_grants()').all()).toEqual([]);
    expect(insituCode(bobDb, "SELECT * FROM insitu_datastore_contents('a_ds', 'alice')")).toBe('DATASTORE_NOT_FOUND');
    expect(bobDb.prepare('SELECT * FROM insitu_jobs()').all()).toEqual([]);
    expect(bobDb.prepare('SELECT * FROM insitu_schedule_runs()').all()).toEqual([]);
  });

  it("insitu_scripts() shows each script's own source, not the caller's script of the same name", async () => {
    await alice.scripts.create('g_shadow', 'def g_shadow():\n    return "alice global"', { global: true });
    await bob.scripts.create('g_shadow', 'def g_shadow():\n    return "bob private"');
    const rows = bobDb.prepare("SELECT OWNER, GLOBAL, SCRIPT FROM insitu_scripts() WHERE NAME = 'g_shadow' ORDER BY OWNER").all();
    expect(rows).toEqual([
      { OWNER: 'alice', GLOBAL: 1, SCRIPT: 'def g_shadow():\n    return "alice global"' },
      { OWNER: 'bob', GLOBAL: 0, SCRIPT: 'def g_shadow():\n    return "bob private"' },
    ]);
  });

  it("another user's job id answers like a missing one", () => {
    const id = aliceDb.prepare(`SELECT VALUE FROM insitu_eval('{"oml_async_flag": true}', '', 'a_private')`).pluck().get() as string;
    expect(typeof id).toBe('string');
    expect(insituCode(bobDb, `SELECT * FROM insitu_job_status(${q(id)})`)).toBe('JOB_NOT_FOUND');
    expect(insituCode(bobDb, `SELECT * FROM insitu_job_result(${q(id)}, 'JSON')`)).toBe('JOB_NOT_FOUND');
    expect(insituCode(bobDb, `SELECT * FROM insitu_job_status(${q(`${id}' OR 1=1 --`)})`)).toBe('JOB_NOT_FOUND');
    expect(bobDb.prepare('SELECT * FROM insitu_jobs()').all()).toEqual([]);
  });
});

describe('persistent SQL objects cannot call the functions as whoever reads or writes through them', () => {
  it('a view or trigger in the file that calls them is refused on a registered connection', () => {
    raw.exec(`CREATE VIEW V_EVAL AS SELECT VALUE FROM insitu_eval('{}', 'JSON', 'a_private')`);
    raw.exec('CREATE TABLE T_FIRE (X INTEGER)');
    raw.exec('CREATE TABLE T_LOG (V TEXT)');
    raw.exec(`CREATE TRIGGER TR_FIRE AFTER INSERT ON T_FIRE BEGIN INSERT INTO T_LOG SELECT VALUE FROM insitu_eval('{}', 'JSON', 'a_private'); END`);
    for (const conn of [aliceDb, bobDb]) {
      expect(failure(conn, 'SELECT * FROM V_EVAL').message).toMatch(/unsafe use of virtual table/);
      expect(() => conn.prepare('INSERT INTO T_FIRE VALUES (1)').run()).toThrow(/unsafe use of virtual table/);
    }
    expect(raw.prepare('SELECT count(*) FROM T_LOG').pluck().get()).toBe(0);
    raw.exec('DROP TRIGGER TR_FIRE; DROP VIEW V_EVAL');
  });

  it("a view in the file naming a connection's temporary _vt table does not run it", () => {
    aliceDb.exec(`CREATE VIRTUAL TABLE temp.a_out USING insitu_eval_vt('{}', '{"V":"TEXT"}', 'a_private')`);
    // Unqualified names resolve to temp first: a view of the file could reach alice's table on her connection.
    raw.exec('CREATE VIEW V_TEMP AS SELECT * FROM a_out');
    expect(failure(aliceDb, 'SELECT * FROM V_TEMP').message).toMatch(/unsafe use of virtual table|no such table/);
    raw.exec('DROP VIEW V_TEMP');
    aliceDb.exec('DROP TABLE temp.a_out');
  });

  it('a _vt table cannot be made in the file', () => {
    expect(insituCode(bobDb, `CREATE VIRTUAL TABLE main.b_out USING insitu_eval_vt('{}', 'JSON', 'g_hello')`)).toBe('BAD_INPUT');
    expect(insituCode(bobDb, `CREATE VIRTUAL TABLE b_out USING insitu_eval_vt('{}', 'JSON', 'g_hello')`)).toBe('BAD_INPUT');
    expect(raw.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'b_out'").pluck().get()).toBe(0);
  });
});

describe('one connection, one user', () => {
  it("a connection alice registered cannot be registered again by bob (her temp tables would keep answering as her)", async () => {
    const shared = await alice.sql.register(new Database(db.path));
    try {
      shared.exec(`CREATE VIRTUAL TABLE temp.secret USING insitu_table_eval_vt('A_PRIV', '{}', 'JSON', 'g_rows')`);
      const e = await bob.sql.register(shared).then(
        () => null,
        (err: unknown) => err,
      );
      // Were bob's register() to succeed, his statements on this connection would read alice's table.
      expect(e).toBeInstanceOf(InsituError);
      expect((e as InsituError).code).toBe('BAD_INPUT');
      // Alice may register her own connection again (a new timeout, say).
      await alice.sql.register(shared, { timeoutMs: 60_000 });
    } finally {
      shared.close();
    }
  });
});

describe('dropped users', () => {
  it('a dropped user can no longer run anything through the functions registered before the drop', async () => {
    const dave = engine.session({ user: 'dave' });
    await engine.users.create('dave');
    const daveDb = await dave.sql.register(new Database(db.path));
    try {
      expect(JSON.parse(daveDb.prepare(`SELECT VALUE FROM insitu_eval('{}', 'JSON', 'g_hello')`).pluck().get() as string)).toBe('hello');
      await engine.users.drop('dave');
      // The library refuses the dropped user's session ('registered' mode)...
      expect(((await dave.doEval('g_hello').catch((err: unknown) => err)) as InsituError).code).toBe('PRIVILEGE');
      // ... and so must the SQL functions it registered.
      expect(insituCode(daveDb, `SELECT VALUE FROM insitu_eval('{}', 'JSON', 'g_hello')`)).toBe('PRIVILEGE');
      expect(insituCode(daveDb, 'SELECT * FROM insitu_scripts()')).toBe('PRIVILEGE');
    } finally {
      daveDb.close();
    }
  });
});

describe('a caller blocked in SQL', () => {
  it('a busy UDF is stopped at PAR_LST timeout and the engine serves others after it', () => {
    const t0 = Date.now();
    expect(insituCode(bobDb, `SELECT VALUE FROM insitu_eval('{"s": 600, "timeout": 2}', 'JSON', 'g_busy')`)).toBe('TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(JSON.parse(aliceDb.prepare(`SELECT VALUE FROM insitu_eval('{}', 'JSON', 'g_hello')`).pluck().get() as string)).toBe('hello');
  });

  it("PAR_LST's timeout cannot raise the limit register() set for a connection", async () => {
    const capped = await carol.sql.register(new Database(db.path), { timeoutMs: 20_000 });
    try {
      const t0 = Date.now();
      const e = failure(capped, `SELECT VALUE FROM insitu_eval('{"timeout": 43200, "s": 8}', 'JSON', 'g_busy')`);
      expect(e, e.message).toBeInstanceOf(InsituError);
      expect((e as InsituError).code).toBe('BAD_INPUT');
      expect(e.message).toMatch(/oml_async_flag/);
      expect(Date.now() - t0).toBeLessThan(8_000);
      // Lowering it is fine, and a job may run longer (its own limit is maxJobTimeoutMs).
      expect(JSON.parse(capped.prepare(`SELECT VALUE FROM insitu_eval('{"timeout": 15}', 'JSON', 'g_hello')`).pluck().get() as string)).toBe('hello');
      const id = capped.prepare(`SELECT VALUE FROM insitu_eval('{"oml_async_flag": true, "timeout": 600}', '', 'g_hello')`).pluck().get() as string;
      expect((await carol.jobs.wait(id, { timeoutMs: 30_000 })).state).toBe('succeeded');
    } finally {
      capped.close();
    }
  }, 60_000);

  it("a long SQL call does not make the engine's running jobs lose their lease", async () => {
    // Carol's job runs on the caller thread's engine; bob's SQL call then blocks that thread past jobLeaseMs.
    const { id } = await carol.jobs.submit({ kind: 'doEval', func: 'g_busy', options: { args: { s: 4 } } });
    for (let i = 0; i < 100 && (await carol.jobs.status(id)).state === 'queued'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(JSON.parse(bobDb.prepare(`SELECT VALUE FROM insitu_eval('{"s": 5}', 'JSON', 'g_busy')`).pluck().get() as string)).toBe(5);
    const done = await carol.jobs.wait(id, { timeoutMs: 30_000 });
    expect(done.error?.message).toBeUndefined();
    expect(done.state).toBe('succeeded');
  }, 60_000);
});

describe('out_fmt and par_lst abuse', () => {
  it('column names cannot inject SQL into the virtual table', () => {
    const evil = 'X") ; DROP TABLE B_OWN; --';
    const spec = JSON.stringify({ [evil]: 'TEXT' });
    bobDb.exec(`CREATE VIRTUAL TABLE temp.inj USING insitu_eval_vt('{}', ${q(spec)}, 'g_hello')`);
    const cols = bobDb.prepare('SELECT * FROM temp.inj').columns().map((c) => c.name);
    expect(cols).toEqual([evil]);
    bobDb.exec('DROP TABLE temp.inj');
    expect(raw.prepare('SELECT count(*) FROM B_OWN').pluck().get()).toBe(2);
  });

  it('bad specs and controls are BAD_INPUT with the insitu code, not driver errors', () => {
    const tooMany = JSON.stringify(Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`C${i}`, 'TEXT'])));
    const cases = [
      `CREATE VIRTUAL TABLE temp.w USING insitu_eval_vt('{}', ${q(tooMany)}, 'g_hello')`,
      `CREATE VIRTUAL TABLE temp.w USING insitu_eval_vt('{}', '{"A":"TEXT","a":"TEXT"}', 'g_hello')`,
      `CREATE VIRTUAL TABLE temp.w USING insitu_eval_vt('{}', '{"A":"TEXT); DROP TABLE B_OWN"}', 'g_hello')`,
      `CREATE VIRTUAL TABLE temp.w USING insitu_eval_vt('{}', '{"A":"TEXT"}', 'g_hello', 'alice', 'extra')`,
      `CREATE VIRTUAL TABLE temp.w USING insitu_eval_vt('{}', '{"A":"TEXT"}', g_hello)`,
      `SELECT * FROM insitu_eval('{"oml_async_flag": "yes"}', 'JSON', 'g_hello')`,
      `SELECT * FROM insitu_eval('{"timeout": "10"}', 'JSON', 'g_hello')`,
      `SELECT * FROM insitu_eval('{"timeout": 1e9}', 'JSON', 'g_hello')`,
      `SELECT * FROM insitu_eval('{"oml_service_level": "toString"}', 'JSON', 'g_hello')`,
      `SELECT * FROM insitu_eval('{"oml_service_level": "__proto__"}', 'JSON', 'g_hello')`,
      `SELECT * FROM insitu_eval('[1]', 'JSON', 'g_hello')`,
      `SELECT * FROM insitu_eval('{', 'JSON', 'g_hello')`,
      `SELECT * FROM insitu_eval('{}', '{"A":"TEXT"}', 'g_hello')`,
      `SELECT * FROM insitu_row_eval('B_OWN', '{}', 'JSON', 0, 'g_rows')`,
      `SELECT * FROM insitu_index_eval('{}', 'JSON', -1, 'g_hello')`,
      `SELECT * FROM insitu_group_eval('B_OWN', '{}', 'JSON', 'X', 'X; DROP TABLE B_OWN', 'g_rows')`,
      `SELECT * FROM insitu_group_eval('B_OWN', '{}', 'JSON', '(SELECT 1)', '', 'g_rows')`,
      `SELECT * FROM insitu_job_status(42)`,
      `SELECT * FROM insitu_job_result('nope', 'XML')`,
    ];
    for (const sql of cases) {
      const e = failure(bobDb, sql);
      expect(e, `${sql.slice(0, 120)}: ${e.message}`).toBeInstanceOf(InsituError);
      expect(['BAD_INPUT', 'TABLE_NOT_FOUND', 'JOB_NOT_FOUND'], `${sql.slice(0, 120)}: ${e.message}`).toContain((e as InsituError).code);
    }
    expect(raw.prepare('SELECT count(*) FROM B_OWN').pluck().get()).toBe(2);
  });
});

describe('closing', () => {
  it("close({ jobs: 'wait' }) lets a job submitted from SQL finish", async () => {
    const id = bobDb.prepare(`SELECT VALUE FROM insitu_eval('{"oml_async_flag": true, "s": 3}', '', 'g_busy')`).pluck().get() as string;
    for (let i = 0; i < 100 && (await bob.jobs.status(id)).state === 'queued'; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await bob.jobs.status(id)).state).toBe('running');
    await engine.close({ jobs: 'wait' });
    const row = raw.prepare('SELECT state, error FROM insitu_engine_jobs WHERE id = ?').get(id) as { state: string; error: string | null };
    expect(row.error).toBeNull();
    expect(row.state).toBe('succeeded');
  }, 60_000);

  it('after close the functions fail with CLOSED and register() is refused', async () => {
    expect(insituCode(bobDb, `SELECT VALUE FROM insitu_eval('{}', 'JSON', 'g_hello')`)).toBe('CLOSED');
    expect(insituCode(bobDb, 'SELECT * FROM insitu_scripts()')).toBe('CLOSED');
    const late = new Database(db.path);
    try {
      let e: unknown = null;
      try {
        await bob.sql.register(late);
      } catch (err) {
        e = err;
      }
      expect((e as InsituError).code).toBe('CLOSED');
    } finally {
      late.close();
    }
  });
});
