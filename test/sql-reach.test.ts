// What SQL can reach: nothing outside the engine's database and its transaction, however the statement
// is spelled — from a UDF's insitu.connect() (read and write contexts) and from host query proxies. On
// SQLite decided from the statement's first keyword past comments and from its compiled bytecode; on
// PostgreSQL from its parse tree (statement kinds, tables, functions). Each backend has its own ways out.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session } from 'insitu';
import { ON_POSTGRES } from './backend.js';
import { tempDatabase } from './helpers.js';

let engine: Engine;
let alice: Session;
let mallory: Session;
const db = tempDatabase();
const target = join(db.dir, 'created-by-attacker.db');

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 1 });
  alice = engine.session({ user: 'alice' });
  mallory = engine.session({ user: 'mallory' });
  await alice.scripts.create('secret_model', 'def secret_model():\n    return "alice private source"');
  await mallory.create('MINE', [{ a: 1 }]);
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

const REFUSED_SQLITE: Record<string, string> = {
  'ATTACH the engine file': `ATTACH DATABASE '${db.path}' AS x`,
  'ATTACH after a block comment': `/* x */ ATTACH DATABASE '${db.path}' AS x`,
  'ATTACH after an empty comment': `/**/ATTACH '${db.path}' AS x`,
  'ATTACH after a line comment': `-- hello\n  attach '${db.path}' as x`,
  'ATTACH in mixed case creating a file': `AtTaCh '${target}' AS x`,
  'DETACH': '/* */ DETACH main',
  'VACUUM INTO a new file': `/**/VACUUM INTO '${target}'`,
  'VACUUM': 'vacuum',
  'PRAGMA writable_schema': 'PRAGMA writable_schema=1',
  'PRAGMA journal_mode': '/* */ pragma journal_mode = DELETE',
  'PRAGMA user_version set': 'PRAGMA main.user_version = 7',
  'PRAGMA with a setting in parentheses': 'PRAGMA cache_size(10)',
  'load_extension()': "SELECT load_extension('/usr/lib/x86_64-linux-gnu/libm.so.6')",
  'BEGIN': 'BEGIN IMMEDIATE',
  'SAVEPOINT': '/* */ SAVEPOINT s',
  'COMMIT': 'COMMIT',
  'the dbstat table (page counts of engine tables)': 'SELECT name, sum(pgsize) AS n FROM "DBSTAT" GROUP BY name',
};

const REFUSED_POSTGRES: Record<string, string> = {
  'COPY to a server program': "COPY (SELECT 1) TO PROGRAM 'touch /tmp/insitu-pwned'",
  'COPY to a server file': `/* x */ COPY (SELECT 1) TO '${target}'`,
  'COPY from a server file': "copy MINE FROM '/etc/passwd'",
  'a DO block': 'DO $$ BEGIN PERFORM 1; END $$',
  'SET ROLE': 'SET ROLE postgres',
  'SET after a comment': '-- hello\n  set search_path = pg_catalog',
  'RESET ROLE': 'RESET ROLE',
  'BEGIN': 'BEGIN',
  'SAVEPOINT': '/* */ SAVEPOINT s',
  'COMMIT': 'COMMIT',
  'ROLLBACK': 'ROLLBACK',
  'CREATE FUNCTION': "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
  'CREATE EXTENSION': 'CREATE EXTENSION IF NOT EXISTS dblink',
  'ALTER SYSTEM': "ALTER SYSTEM SET log_statement = 'all'",
  'GRANT': 'GRANT ALL ON MINE TO PUBLIC',
  'LISTEN': 'LISTEN x',
  'LOAD a library': "LOAD 'auto_explain'",
  'VACUUM': 'vacuum',
  'pg_read_file()': "SELECT pg_read_file('/etc/passwd')",
  'set_config() of the role': "SELECT set_config('role', 'postgres', true)",
  'lo_import()': "SELECT lo_import('/etc/passwd')",
  'pg_terminate_backend()': 'SELECT pg_terminate_backend(1)',
};

const REFUSED = ON_POSTGRES ? REFUSED_POSTGRES : REFUSED_SQLITE;

async function fromUdf(sql: string, context: 'read' | 'write', method: 'query' | 'execute'): Promise<string> {
  const src = `import insitu\ndef f(sql):\n    c = insitu.connect()\n    r = c.${method}(sql)\n    return "ran"`;
  return mallory.doEval({ source: src }, { args: { sql }, context }).then(
    () => 'ran',
    (e: { code: string }) => e.code,
  );
}

describe('statements that reach outside the database or its transaction', () => {
  for (const [name, sql] of Object.entries(REFUSED)) {
    it(`refuses ${name} everywhere`, async () => {
      for (const context of ['read', 'write'] as const) {
        expect(await fromUdf(sql, context, 'execute'), `${context} execute`).toBe('PRIVILEGE');
        expect(['PRIVILEGE', 'BAD_INPUT'], `${context} query`).toContain(await fromUdf(sql, context, 'query'));
      }
      const host = await Promise.resolve()
        .then(() => mallory.query(sql).pull())
        .then(
          () => 'ran',
          (e: { code: string }) => e.code,
        );
      expect(['PRIVILEGE', 'BAD_INPUT']).toContain(host);
      expect(existsSync(target), 'no file was created').toBe(false);
    });
  }

  // PostgreSQL has no ATTACH: the engine tables are in the same database, and no spelling reaches them.
  if (ON_POSTGRES) it("never shows another user's private scripts, however the engine table is spelled", async () => {
    const spellings = [
      'SELECT source FROM insitu_engine_scripts',
      'SELECT source FROM public.insitu_engine_scripts',
      'SELECT source FROM "INSITU_ENGINE_SCRIPTS"',
      'SELECT source FROM "insitu_engine_scripts"',
      'WITH x AS (SELECT * FROM insitu_engine_scripts) SELECT source FROM x',
      'SELECT (SELECT source FROM insitu_engine_scripts LIMIT 1) AS s',
      "SELECT source FROM pg_catalog.pg_class c, insitu_engine_scripts WHERE c.relname = 'x'",
    ];
    const r = await mallory.doEval(
      {
        source: `import insitu
def f(spellings):
    c = insitu.connect()
    out = []
    for sql in spellings:
        try:
            out.append(c.query(sql).to_records())
        except insitu.InsituError as e:
            out.append(e.code)
    return out`,
      },
      { args: { spellings } },
    );
    const codes = r.value as unknown[];
    expect(JSON.stringify(codes)).not.toContain('alice private source');
    for (const code of codes) expect(['BAD_INPUT', 'TABLE_NOT_FOUND', 'PRIVILEGE']).toContain(code);
  });

  if (!ON_POSTGRES) it("never shows another user's private scripts through an attached copy of the engine's file", async () => {
    const r = await mallory
      .doEval(
        {
          source: `import insitu
def f(path):
    c = insitu.connect()
    try:
        c.execute("/**/ ATTACH DATABASE '" + path + "' AS x")
    except insitu.InsituError as e:
        pass
    try:
        return c.query("SELECT source FROM x.insitu_engine_scripts").to_records()
    except insitu.InsituError as e:
        return e.code`,
        },
        { args: { path: db.path } },
      )
      .then((x) => JSON.stringify(x.value));
    expect(r).not.toContain('alice private source');
  });

  if (ON_POSTGRES) it('still allows ordinary statements, and tables of your own', async () => {
    const r = await mallory.doEval(
      {
        source: `import insitu
def f():
    c = insitu.connect()
    cols = list(c.query("SELECT * FROM MINE LIMIT 0").columns)
    n = c.execute("INSERT INTO MINE VALUES (2)")
    c.execute("CREATE TABLE scratch (x integer)")
    c.execute("INSERT INTO scratch VALUES (1)")
    return [cols, n]`,
      },
      { context: 'write' },
    );
    expect(r.value).toEqual([['a'], 1]);
    expect(await mallory.query('/* a comment first */ SELECT count(*) AS n FROM MINE').count()).toBe(1);
  });

  if (!ON_POSTGRES) it('still allows reporting pragmas and ordinary statements', async () => {
    const r = await mallory.doEval(
      {
        source: `import insitu
def f():
    c = insitu.connect()
    cols = [r["name"] for r in c.query("PRAGMA table_info(MINE)").to_records()]
    n = c.execute("INSERT INTO MINE VALUES (2)")
    c.execute("CREATE TEMP TABLE scratch (x)")
    c.execute("INSERT INTO scratch VALUES (1)")
    return [cols, n]`,
      },
      { context: 'write' },
    );
    expect(r.value).toEqual([['a'], 1]);
    expect(await mallory.query('/* a comment first */ SELECT count(*) AS n FROM MINE').count()).toBe(1);
  });
});
