// The PostgreSQL statement guard, attacked through the public API: query proxies, where() filters,
// pull / count / schema, and apply inputs. Every attack ends with a typed error and the engine keeps
// serving; engine tables, catalogs, files, settings and other users' tables stay out of reach.
// PostgreSQL only (project `postgres`, see vitest.config.ts): the tricks are PostgreSQL's own; the
// SQLite guard has its own attack suites (redteam-sql, redteam-data, table-privileges).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session } from 'insitu';
import { pgColumn } from './backend.js';
import { rejectsWith, tempDatabase } from './helpers.js';

let engine: Engine;
let alice: Session;
let bob: Session;
const db = tempDatabase();

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 1, statementTimeoutMs: 1500 });
  alice = engine.session({ user: 'alice' });
  bob = engine.session({ user: 'bob' });
  await alice.create('T', [{ id: 1, v: 'a' }, { id: 2, v: 'b' }]);
  await bob.create('SECRET', [{ k: 'bob-only' }]);
  // Made by an administrator outside insitu (unowned: readable by everyone under unownedTables 'read').
  pgColumn(db.path, `CREATE VIEW leak_users AS SELECT * FROM insitu_engine_table_owners`);
  pgColumn(db.path, `CREATE VIEW leak_secret AS SELECT * FROM "SECRET"`);
  pgColumn(db.path, `CREATE SCHEMA other; CREATE TABLE other.t (x int); INSERT INTO other.t VALUES (42)`);
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

/** The engine still answers a plain query after an attack. */
async function stillServing(): Promise<void> {
  expect((await alice.query('SELECT count(*) AS n FROM T').pull()).toArray()[0]!.n).toBe(2);
}

describe('PostgreSQL statement guard', () => {
  it('refuses functions that run SQL text, read files, change settings, lock, sleep or signal', async () => {
    const calls = [
      `query_to_xml('select * from insitu_engine_table_owners', true, true, '')`,
      `table_to_xml('insitu_engine_table_owners', true, true, '')`,
      `cursor_to_xml('c', 1, true, true, '')`,
      `database_to_xml(true, true, '')`,
      `schema_to_xml('public', true, true, '')`,
      `pg_read_file('/etc/passwd')`,
      `pg_read_binary_file('/etc/passwd')`,
      `pg_ls_dir('.')`,
      `lo_import('/etc/passwd')`,
      `lo_get(1)`,
      `dblink('dbname=test', 'select 1')`,
      `set_config('role', 'postgres', false)`,
      `current_setting('data_directory')`,
      `pg_advisory_lock(1)`,
      `pg_try_advisory_xact_lock(1)`,
      `pg_sleep(10)`,
      `pg_terminate_backend(1)`,
      `pg_cancel_backend(1)`,
      `nextval('s')`,
      `setval('s', 1)`,
      `txid_current()`,
      `pg_notify('c', 'x')`,
      `pg_catalog.pg_read_file('/etc/passwd')`,
      `"pg_read_file"('/etc/passwd')`,
      `public.lower('x')`,
      `version()`,
    ];
    for (const call of calls) {
      const e = await rejectsWith(alice.query(`SELECT ${call} AS x`).pull(), 'PRIVILEGE');
      expect(e.message).toMatch(/function .* is not allowed here/);
    }
    // Hidden in a where() filter, a subquery, an ORDER BY, a lateral function and an apply's input.
    await rejectsWith(alice.table('T').where(`pg_sleep(10) IS NULL`).pull(), 'PRIVILEGE');
    await rejectsWith(alice.table('T').where(`id IN (SELECT length(pg_read_file('/etc/passwd')))`).count(), 'PRIVILEGE');
    await rejectsWith(alice.query(`SELECT * FROM T ORDER BY pg_ls_dir('.')`).pull(), 'PRIVILEGE');
    await rejectsWith(alice.query(`SELECT * FROM T, LATERAL pg_ls_dir('.') AS f`).schema(), 'PRIVILEGE');
    await rejectsWith(alice.tableApply(alice.query(`SELECT pg_read_file('/etc/passwd') AS x`), { source: 'def f(df):\n    return 1' }), 'PRIVILEGE');
    await rejectsWith(alice.rowApply(alice.table('T').where(`set_config('statement_timeout', '0', true) = ?`, '0'), { source: 'def f(df):\n    return 1' }), 'PRIVILEGE');
    // Casts that look names up in the catalogs.
    await rejectsWith(alice.query(`SELECT 'insitu_engine_users'::regclass::oid AS x`).pull(), 'PRIVILEGE');
    await rejectsWith(alice.query(`SELECT CAST('pg_read_file' AS regproc) AS x`).pull(), 'PRIVILEGE');
    // Ordinary built-ins stay usable.
    const ok = await alice.query(`SELECT upper(v) AS u, round(id * 1.5) AS r, coalesce(NULL, v) AS c, extract(year FROM now()) > 2000 AS y FROM T ORDER BY id`).pull();
    expect(ok.toArray().map((r) => r.u)).toEqual(['A', 'B']);
    await stillServing();
  });

  it('keeps engine tables out of reach however they are spelled, qualified or wrapped', async () => {
    const spellings = [
      'insitu_engine_table_owners',
      '"insitu_engine_table_owners"',
      'INSITU_ENGINE_TABLE_OWNERS',
      'Insitu_Engine_Users',
      'public.insitu_engine_users',
      '"public"."insitu_engine_users"',
      'PUBLIC.INSITU_ENGINE_MIGRATIONS',
    ];
    for (const name of spellings) {
      const e = await rejectsWith(alice.query(`SELECT * FROM ${name}`).pull(), 'BAD_INPUT');
      expect(e.message).toContain('engine tables');
      await rejectsWith(alice.query(`WITH x AS (SELECT * FROM ${name}) SELECT * FROM x`).count(), 'BAD_INPUT');
      await rejectsWith(alice.query(`SELECT * FROM T WHERE EXISTS (SELECT 1 FROM ${name})`).pull(), 'BAD_INPUT');
      await rejectsWith(alice.query(`SELECT * FROM T JOIN ${name} ON true`).pull(), 'BAD_INPUT');
    }
    // Another database of the server, by three-part name.
    await rejectsWith(alice.query(`SELECT * FROM test.public.insitu_engine_users`).pull(), 'PRIVILEGE');
    // A CTE named like an engine table shadows it only inside its scope: outside, the real name is checked.
    await rejectsWith(alice.query(`SELECT * FROM (WITH insitu_engine_users AS (SELECT 1) SELECT * FROM insitu_engine_users) a, insitu_engine_users`).pull(), 'BAD_INPUT');
    // A CTE named like a table alice may not read does not let a later reference through.
    await rejectsWith(alice.query(`SELECT * FROM (WITH "SECRET" AS (SELECT 1 AS k) SELECT * FROM "SECRET") a, "SECRET"`).pull(), 'TABLE_NOT_FOUND');
    await stillServing();
  });

  it('makes system catalogs and other schemas unreachable (TABLE_NOT_FOUND, as a missing table)', async () => {
    for (const name of ['pg_class', 'pg_catalog.pg_class', 'pg_roles', 'pg_stat_activity', 'pg_authid', 'information_schema.tables', 'other.t', 'pg_temp.t']) {
      await rejectsWith(alice.query(`SELECT * FROM ${name}`).pull(), 'TABLE_NOT_FOUND');
    }
    await stillServing();
  });

  it('checks the tables under a view: views over engine tables or over tables the user may not read', async () => {
    expect((await rejectsWith(alice.query('SELECT * FROM leak_users').pull(), 'BAD_INPUT')).message).toContain('engine tables');
    await rejectsWith(alice.query('SELECT * FROM leak_secret').pull(), 'TABLE_NOT_FOUND');
    await rejectsWith(alice.table('leak_secret').count(), 'TABLE_NOT_FOUND');
    await rejectsWith(alice.query('SELECT * FROM "SECRET"').pull(), 'TABLE_NOT_FOUND');
    // Bob reads his own table through the view; once he grants it, alice does too.
    expect((await bob.query('SELECT * FROM leak_secret').pull()).toArray().map((r) => r.k)).toEqual(['bob-only']);
    await bob.grant({ table: 'SECRET', to: 'alice' });
    expect(await alice.table('leak_secret').count()).toBe(1);
    await bob.revoke({ table: 'SECRET', to: 'alice' });
    await rejectsWith(alice.table('leak_secret').count(), 'TABLE_NOT_FOUND');
  });

  it('refuses writes dressed as reads: data-changing CTEs, SELECT INTO, FOR UPDATE, several statements', async () => {
    for (const sql of [
      `WITH d AS (DELETE FROM T RETURNING *) SELECT * FROM d`,
      `WITH u AS (UPDATE T SET v = 'x' RETURNING *) SELECT * FROM u`,
      `WITH i AS (INSERT INTO T VALUES (3, 'c') RETURNING *) SELECT * FROM i`,
      `SELECT * INTO stolen FROM T`,
      `SELECT * FROM T FOR UPDATE`,
      `SELECT * FROM T FOR SHARE NOWAIT`,
      `SELECT 1; DELETE FROM T`,
      `SELECT 1; SELECT 2`,
    ]) {
      await rejectsWith(alice.query(sql).pull(), 'BAD_INPUT');
    }
    await rejectsWith(alice.table('T').where(`1=1) ; DELETE FROM "T"; --`).pull(), 'BAD_INPUT');
    await rejectsWith(alice.table('T').where(`id = 1 FOR UPDATE`).pull(), 'BAD_INPUT');
    // Statements that are no SELECT at all are refused before anything runs.
    for (const sql of [`COPY T TO '/tmp/x'`, `COPY (SELECT 1) TO PROGRAM 'id'`, `DO $$ BEGIN PERFORM 1; END $$`, `SET ROLE postgres`, `SET statement_timeout = 0`, `RESET ROLE`, `BEGIN`, `CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql`, `LISTEN x`, `VACUUM T`]) {
      await rejectsWith(() => alice.query(sql).pull(), 'BAD_INPUT');
    }
    expect(await alice.table('T').count()).toBe(2);
    expect(pgColumn(db.path, `SELECT count(*) FROM pg_class WHERE relname = 'stolen'`)).toEqual(['0']);
  });

  it('binds ? placeholders in proxies and filters, leaving question marks in literals, identifiers and comments alone', async () => {
    const r = await alice
      .query(`SELECT id, v, '?' AS q, "v" AS "what?" /* ? */ FROM T WHERE id >= ? -- ?\n AND v <> E'\\'?'`, [1])
      .where(`"what?" <> ?`, 'z')
      .orderBy('-id')
      .pull();
    expect(r.toArray().map((x) => [x.id, x.q, x['what?']])).toEqual([
      [2, '?', 'b'],
      [1, '?', 'a'],
    ]);
    // A parameter is a value, never SQL.
    expect(await alice.table('T').where('v = ?', `a' OR '1'='1`).count()).toBe(0);
    await rejectsWith(alice.table('T').where('id = ? AND v = ?', 1).pull(), 'BAD_INPUT');
  });

  it('matches a column name in another case only when one column is so spelled: two are BAD_INPUT naming both', async () => {
    // Only PostgreSQL can hold two columns whose names differ only in case (insitu refuses to make them).
    pgColumn(db.path, `CREATE TABLE "TWIN" ("Ab" int, "AB" int, c int); INSERT INTO "TWIN" VALUES (1, 2, 3)`);
    const twin = alice.table('TWIN');
    expect((await twin.select(['C', 'AB']).pull()).toArray().map((r) => Object.values(r.toJSON()))).toEqual([[3, 2]]);
    for (const read of [() => twin.select(['ab']).pull(), () => twin.orderBy('aB').pull(), () => alice.query('SELECT ab FROM TWIN').pull()]) {
      const e = await rejectsWith(read, 'BAD_INPUT');
      expect(e.message).toContain('"AB" and "Ab"');
    }
    // A name one SELECT list spells exactly is that output, whatever the tables' columns.
    expect((await alice.query('SELECT c AS "ab" FROM TWIN ORDER BY "ab"').pull()).toArray().map((r) => r.toJSON())).toEqual([{ ab: 3 }]);
    await stillServing();
  });

  it('cancels a query that runs past the statement timeout (TIMEOUT) and keeps serving', async () => {
    const t0 = Date.now();
    const e = await rejectsWith(alice.query(`SELECT count(*) AS n FROM generate_series(1, 100000) a, generate_series(1, 100000) b`).pull(), 'TIMEOUT');
    expect(e.message).toContain('time limit');
    expect(Date.now() - t0).toBeLessThan(15_000);
    await rejectsWith(alice.query(`SELECT count(*) AS n FROM generate_series(1, 100000) a CROSS JOIN generate_series(1, 100000) b`).count(), 'TIMEOUT');
    await stillServing();
  });
});
