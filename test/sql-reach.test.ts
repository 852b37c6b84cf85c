// What SQL can reach: nothing outside the engine's database file and its transaction, however the
// statement is spelled — from a UDF's insitu.connect() (read and write contexts) and from host query
// proxies. Decided from the statement's first keyword past comments and from its compiled bytecode.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session } from 'insitu';
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

const REFUSED: Record<string, string> = {
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

  it("never shows another user's private scripts through an attached copy of the engine's file", async () => {
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

  it('still allows reporting pragmas and ordinary statements', async () => {
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
