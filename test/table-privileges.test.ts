// Tables have owners and grants: every read and write, from the host API and from a UDF's
// insitu.connect(), is checked per table against the calling user, decided from the compiled statement
// (views, joins, subqueries, CTEs and trigger bodies included). A table a user may not read answers
// exactly like a missing one. Run in both OS-sandbox modes, one engine each, on both storage backends:
// where SQLite and PostgreSQL differ (PRAGMAs, the schema table, triggers' syntax, fts5) each gets its own.
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, InsituError, type Engine, type Session } from 'insitu';
import { ON_POSTGRES } from './backend.js';
import { rejectsWith, tempDatabase } from './helpers.js';
import { rawQuery } from './raw-database.js';

/** Statements an administrator runs beside insitu: a table without owner, and a trigger on SRC that writes LOG. */
const ADMIN_SETUP = ON_POSTGRES
  ? [
      'CREATE TABLE "FREE" (a INTEGER)',
      'INSERT INTO "FREE" VALUES (1)',
      `CREATE FUNCTION src_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO "LOG" VALUES ('insert'); RETURN NEW; END $$`,
      'CREATE TRIGGER "SRC_AUDIT" AFTER INSERT ON "SRC" FOR EACH ROW EXECUTE FUNCTION src_audit()',
      // PostgreSQL's other ways to act inside a write: a rule, and a trigger whose SQL is built at run time.
      `CREATE RULE rul_log AS ON INSERT TO "RUL" DO ALSO INSERT INTO "LOG" VALUES ('rule')`,
      `CREATE FUNCTION dyn_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'INSERT INTO "L' || 'OG" VALUES (1)'; RETURN NEW; END $$`,
      'CREATE TRIGGER "DYN_AUDIT" AFTER INSERT ON "DYN" FOR EACH ROW EXECUTE FUNCTION dyn_audit()',
    ]
  : [
      'CREATE TABLE FREE (a INTEGER)',
      'INSERT INTO FREE VALUES (1)',
      `CREATE TRIGGER SRC_AUDIT AFTER INSERT ON SRC BEGIN INSERT INTO LOG VALUES ('insert'); END`,
    ];

/** How many triggers the database holds (made by anyone). */
const TRIGGER_COUNT = ON_POSTGRES
  ? 'SELECT CAST(count(*) AS INTEGER) AS n FROM pg_trigger WHERE NOT tgisinternal'
  : `SELECT count(*) AS n FROM sqlite_schema WHERE type = 'trigger'`;

/** Runs each [label, sql] with a write context and reports ['ok', rows or changes] or [code, message]. */
const TRY = `import insitu, json
def f(stmts):
    c = insitu.connect()
    out = {}
    for label, sql in stmts:
        try:
            if sql.lstrip().upper().startswith(("SELECT", "WITH", "PRAGMA")):
                out[label] = ["ok", len(c.query(sql))]
            else:
                out[label] = ["ok", c.execute(sql)]
        except insitu.InsituError as e:
            out[label] = [e.code, str(e)]
    return json.dumps(out)
`;

type Outcome = Record<string, [string, number | string]>;

for (const osSandbox of ['bubblewrap', 'none'] as const) {
  describe(`table privileges (osSandbox: ${osSandbox})`, () => {
    const db = tempDatabase();
    let engine: Engine;
    let alice: Session; // owns EMP, BIG, LOG, SRC
    let rob: Session; // read grant on EMP
    let will: Session; // write grant on EMP and SRC
    let nobody: Session; // no grant
    let pat: Session; // only what PUBLIC has

    const codes = (o: Outcome) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v[0]]));
    async function attempt(who: Session, stmts: [string, string][], context: 'read' | 'write' = 'write'): Promise<Outcome> {
      const r = await who.doEval({ source: TRY }, { args: { stmts }, context });
      return JSON.parse(r.value as string) as Outcome;
    }
    const rowsOf = async (name: string) => (await alice.table(name).pull()).numRows;
    const errorOf = (p: Promise<unknown>) => p.then(() => null, (e: InsituError) => ({ code: e.code, message: e.message }));

    beforeAll(async () => {
      engine = await createEngine({ database: db.path, workers: 2, osSandbox });
      [alice, rob, will, nobody, pat] = ['alice', 'rob', 'will', 'nobody', 'pat'].map((user) => engine.session({ user }));
      await alice.create('EMP', [{ id: 1, sal: 10 }, { id: 2, sal: 20 }]);
      await alice.create('DEPT', [{ id: 1, name: 'ops' }]);
      await alice.create('BIG', Array.from({ length: 3000 }, (_, i) => ({ id: i, g: i % 3 })));
      await alice.create('LOG', [{ msg: 'start' }]);
      await alice.create('SRC', [{ v: 0 }]);
      await alice.create('PUB', [{ a: 1 }]);
      await alice.grant({ table: 'EMP', to: 'rob' });
      await alice.grant({ table: 'EMP', to: 'will', privilege: 'write' });
      await alice.grant({ table: 'SRC', to: 'will', privilege: 'write' });
      await alice.grant({ table: 'PUB', to: 'PUBLIC' });
      if (ON_POSTGRES) {
        for (const t of ['RUL', 'DYN']) {
          await alice.create(t, [{ v: 0 }]);
          await alice.grant({ table: t, to: 'will', privilege: 'write' });
        }
      }
      // Made outside insitu (an administrator's connection): a table without owner, and a trigger on
      // alice's SRC that writes her LOG.
      for (const sql of ADMIN_SETUP) await rawQuery(db.path, sql);
    });
    afterAll(async () => {
      await engine?.close();
      db.cleanup();
    });

    it('host reads: owner, read and write grantees see the table; anyone else gets TABLE_NOT_FOUND', async () => {
      for (const s of [alice, rob, will]) expect(await s.table('EMP').count()).toBe(2);
      for (const s of [nobody, pat]) await rejectsWith(s.table('EMP').count(), 'TABLE_NOT_FOUND');
      expect(await pat.table('PUB').count()).toBe(1);
      expect(await nobody.query('SELECT a FROM PUB').count()).toBe(1);
      // Through a join, a subquery, a CTE and a schema() call: the table is found in the bytecode.
      for (const sql of [
        'SELECT * FROM PUB JOIN EMP ON EMP.id = PUB.a',
        'SELECT a, (SELECT max(sal) FROM EMP) AS m FROM PUB',
        'WITH e AS (SELECT * FROM EMP) SELECT * FROM e',
        'SELECT * FROM PUB WHERE a IN (SELECT id FROM EMP)',
      ]) {
        await rejectsWith(nobody.query(sql).pull(), 'TABLE_NOT_FOUND');
        expect((await rob.query(sql).pull()).numRows).toBeGreaterThan(0);
      }
      await rejectsWith(nobody.table('EMP').schema(), 'TABLE_NOT_FOUND');
      await rejectsWith(nobody.table('PUB').where('a IN (SELECT id FROM EMP)').count(), 'TABLE_NOT_FOUND');
    });

    it('an invisible table answers exactly like a missing one', async () => {
      const invisible = await errorOf(nobody.table('EMP').count());
      const missing = await errorOf(nobody.table('NO_SUCH').count());
      expect(invisible).not.toBeNull();
      expect({ ...invisible!, message: invisible!.message.replace('EMP', 'T') }).toEqual({ ...missing!, message: missing!.message.replace('NO_SUCH', 'T') });
      const q1 = await errorOf(nobody.query('SELECT * FROM EMP').pull());
      const q2 = await errorOf(nobody.query('SELECT * FROM NO_SUCH').pull());
      expect(q1!.message.replace('EMP', 'T')).toBe(q2!.message.replace('NO_SUCH', 'T'));
      const inside = await attempt(nobody, [
        ['invisible', 'SELECT * FROM EMP'],
        ['missing', 'SELECT * FROM NO_SUCH'],
      ]);
      expect(inside['invisible']![0]).toBe('TABLE_NOT_FOUND');
      expect(String(inside['invisible']![1]).replace('EMP', 'T')).toBe(String(inside['missing']![1]).replace('NO_SUCH', 'T'));
      if (ON_POSTGRES) {
        // The catalogs that list every user's tables and columns are unreachable, like a missing table.
        const catalogs = await attempt(nobody, [
          ['columns', "SELECT column_name FROM information_schema.columns WHERE table_name = 'EMP'"],
          ['schema', 'SELECT relname FROM pg_class'],
          ['table list', 'SELECT tablename FROM pg_catalog.pg_tables'],
        ]);
        expect(codes(catalogs)).toEqual({ columns: 'TABLE_NOT_FOUND', schema: 'TABLE_NOT_FOUND', 'table list': 'TABLE_NOT_FOUND' });
        await rejectsWith(nobody.query('SELECT relname FROM pg_class').pull(), 'TABLE_NOT_FOUND');
      } else {
        const pragmas = await attempt(nobody, [
          ['invisible columns', 'PRAGMA table_info(EMP)'],
          ['missing columns', 'PRAGMA table_info(NO_SUCH)'],
          ['own columns', 'PRAGMA table_info(PUB)'],
          ['schema', 'SELECT name FROM sqlite_master'],
          ['table list', 'PRAGMA table_list'],
        ]);
        expect(pragmas['invisible columns']![0]).toBe('TABLE_NOT_FOUND');
        expect(String(pragmas['invisible columns']![1]).replace('EMP', 'T')).toBe(String(pragmas['missing columns']![1]).replace('NO_SUCH', 'T'));
        expect(pragmas['own columns']).toEqual(['ok', 1]);
        // The schema table and table_list name every user's tables.
        expect([pragmas['schema']![0], pragmas['table list']![0]]).toEqual(['PRIVILEGE', 'PRIVILEGE']);
        await rejectsWith(nobody.query('SELECT name FROM sqlite_schema').pull(), 'PRIVILEGE');
      }
      // Through a view: SQLite makes both views and names the table under them when they are read;
      // PostgreSQL refuses to make them. Either way the invisible table answers as the missing one.
      const views = await attempt(nobody, [
        ['v1', 'CREATE VIEW NOBODY_V1 AS SELECT * FROM EMP'],
        ['v2', 'CREATE VIEW NOBODY_V2 AS SELECT * FROM NO_SUCH'],
        ['invisible', 'SELECT * FROM NOBODY_V1'],
        ['missing', 'SELECT * FROM NOBODY_V2'],
      ]);
      expect([views['invisible']![0], views['missing']![0]]).toEqual(['TABLE_NOT_FOUND', 'TABLE_NOT_FOUND']);
      const same = (v: [string, number | string]) => [v[0], String(v[1]).replace(/EMP|NO_SUCH/, 'T').replace(/NOBODY_V[12]/, 'V')];
      expect(same(views['v1']!)).toEqual(same(views['v2']!));
      expect(same(views['invisible']!)).toEqual(same(views['missing']!));
      const drops = await attempt(nobody, [['invisible', 'DROP TABLE IF EXISTS EMP'], ['missing', 'DROP TABLE IF EXISTS NO_SUCH']]);
      expect(drops).toEqual({ invisible: ['ok', 0], missing: ['ok', 0] });
      expect(await rowsOf('EMP')).toBe(2);
      // Grants on an invisible table: not found too; on a visible one not owned: PRIVILEGE.
      await rejectsWith(nobody.grant({ table: 'EMP', to: 'PUBLIC' }), 'TABLE_NOT_FOUND');
      await rejectsWith(nobody.grant({ table: 'NO_SUCH', to: 'PUBLIC' }), 'TABLE_NOT_FOUND');
    });

    it('host applies read as the calling user, on the engine and in the workers', async () => {
      const count = { source: 'def f(df):\n    return {"n": [len(df)]}' };
      // rows >= 1024 on a plain table: the workers read the chunks themselves.
      await rejectsWith(nobody.rowApply(nobody.table('BIG'), count, { rows: 1024 }), 'TABLE_NOT_FOUND');
      await rejectsWith(nobody.rowApply(nobody.table('BIG'), count, { rows: 10 }), 'TABLE_NOT_FOUND');
      await rejectsWith(nobody.tableApply(nobody.table('BIG'), count), 'TABLE_NOT_FOUND');
      await rejectsWith(nobody.groupApply(nobody.table('BIG'), 'g', count), 'TABLE_NOT_FOUND');
      await rejectsWith(nobody.tableApply(nobody.query('SELECT * FROM PUB CROSS JOIN EMP'), count), 'TABLE_NOT_FOUND');
      await alice.grant({ table: 'BIG', to: 'rob' });
      const r = await rob.rowApply(rob.table('BIG'), count, { rows: 1024, parallel: true });
      expect(r.partitions.map((p) => (p.value as { getChild(n: string): { get(i: number): unknown } }).getChild('n').get(0))).toEqual([1024, 1024, 952]);
      expect((await rob.groupApply(rob.table('BIG'), 'g', count, { parallel: true })).partitions).toHaveLength(3);
    });

    it('UDFs: the privilege matrix for select, insert, update, delete and drop with a write context', async () => {
      const stmts: [string, string][] = [
        ['select', 'SELECT * FROM EMP'],
        ['insert', 'INSERT INTO EMP VALUES (9, 90)'],
        ['update', 'UPDATE EMP SET sal = sal WHERE id = 9'],
        ['delete', 'DELETE FROM EMP WHERE id = 9'],
        ['drop', 'DROP TABLE EMP'],
        ['delete all', 'DELETE FROM EMP'], // compiled to Clear of the table's b-trees, not OpenWrite
      ];
      expect(codes(await attempt(alice, stmts.slice(0, 4)))).toEqual({ select: 'ok', insert: 'ok', update: 'ok', delete: 'ok' });
      expect(codes(await attempt(will, stmts.slice(0, 5)))).toEqual({ select: 'ok', insert: 'ok', update: 'ok', delete: 'ok', drop: 'PRIVILEGE' });
      expect(codes(await attempt(rob, stmts))).toEqual({
        select: 'ok', insert: 'PRIVILEGE', update: 'PRIVILEGE', delete: 'PRIVILEGE', drop: 'PRIVILEGE', 'delete all': 'PRIVILEGE',
      });
      for (const s of [nobody, pat]) {
        expect(codes(await attempt(s, stmts))).toEqual({
          select: 'TABLE_NOT_FOUND', insert: 'TABLE_NOT_FOUND', update: 'TABLE_NOT_FOUND', delete: 'TABLE_NOT_FOUND', drop: 'TABLE_NOT_FOUND',
          'delete all': 'TABLE_NOT_FOUND',
        });
      }
      // Integrity checks read every b-tree of the database, the engine's first (refused as such). SQLite
      // only: PostgreSQL has no such statement (its amcheck functions are off the allowlist, see pg-guard).
      if (!ON_POSTGRES) {
        expect(codes(await attempt(nobody, [['integrity', 'PRAGMA integrity_check'], ['quick', 'PRAGMA quick_check']]))).toEqual({ integrity: 'BAD_INPUT', quick: 'BAD_INPUT' });
      }
      expect(codes(await attempt(pat, [['select', 'SELECT * FROM PUB'], ['insert', 'INSERT INTO PUB VALUES (2)']]))).toEqual({ select: 'ok', insert: 'PRIVILEGE' });
      // A read-only context stays read-only for the owner too.
      expect(codes(await attempt(alice, [['insert', 'INSERT INTO EMP VALUES (9, 90)']], 'read'))).toEqual({ insert: 'PRIVILEGE' });
      expect(await rowsOf('EMP')).toBe(2);
      expect(await rowsOf('PUB')).toBe(1);
    });

    it('UDFs: reads through a view, a join, a subquery and a CTE check the tables underneath', async () => {
      expect(codes(await attempt(alice, [['view', 'CREATE VIEW EMP_V AS SELECT id FROM EMP']]))).toEqual({ view: 'ok' });
      const reads: [string, string][] = [
        ['view', 'SELECT * FROM EMP_V'],
        ['join', 'SELECT * FROM PUB JOIN EMP ON EMP.id = PUB.a'],
        ['subquery', 'SELECT (SELECT count(*) FROM EMP) AS n'],
        ['cte', 'WITH e AS (SELECT * FROM EMP) SELECT * FROM e'],
        ['insert-select', 'INSERT INTO PUB SELECT id FROM EMP'],
      ];
      const none = codes(await attempt(nobody, reads));
      expect(none).toEqual({ view: 'TABLE_NOT_FOUND', join: 'TABLE_NOT_FOUND', subquery: 'TABLE_NOT_FOUND', cte: 'TABLE_NOT_FOUND', 'insert-select': 'TABLE_NOT_FOUND' });
      const ro = codes(await attempt(rob, reads));
      expect(ro).toEqual({ view: 'ok', join: 'ok', subquery: 'ok', cte: 'ok', 'insert-select': 'PRIVILEGE' });
      // Host reads of the view follow the same rule.
      await rejectsWith(nobody.table('EMP_V').count(), 'TABLE_NOT_FOUND');
      expect(await rob.table('EMP_V').count()).toBe(2);
      expect(await rowsOf('PUB')).toBe(1);
    });

    it("a trigger on a table the writer may write, writing one they may not, refuses the write; UDFs cannot create triggers", async () => {
      // SRC_AUDIT (made by an administrator) inserts into alice's LOG, which will cannot see.
      const out = await attempt(will, [['insert', 'INSERT INTO SRC VALUES (1)']]);
      expect(out['insert']![0]).toBe('TABLE_NOT_FOUND');
      expect(await rowsOf('SRC')).toBe(1);
      expect(await rowsOf('LOG')).toBe(1);
      // The owner of both writes through the trigger.
      expect(codes(await attempt(alice, [['insert', 'INSERT INTO SRC VALUES (2)']]))).toEqual({ insert: 'ok' });
      expect(await rowsOf('LOG')).toBe(2);
      if (ON_POSTGRES) {
        // A rule's action is checked like a trigger's; a trigger running dynamic SQL cannot be, so no one
        // writes through it (its owner included) until an administrator changes it.
        expect(codes(await attempt(will, [['rule', 'INSERT INTO RUL VALUES (1)']]))).toEqual({ rule: 'TABLE_NOT_FOUND' });
        expect(codes(await attempt(alice, [['rule', 'INSERT INTO RUL VALUES (1)']]))).toEqual({ rule: 'ok' });
        expect(await rowsOf('LOG')).toBe(3);
        const dyn = await attempt(alice, [['dynamic', 'INSERT INTO DYN VALUES (1)']]);
        expect(dyn['dynamic']![0]).toBe('PRIVILEGE');
        expect(dyn['dynamic']![1]).toMatch(/runs dynamic SQL/);
        expect([await rowsOf('RUL'), await rowsOf('DYN'), await rowsOf('LOG')]).toEqual([2, 1, 3]);
        // PostgreSQL writes through a simple view into the table under it, firing that table's triggers.
        const viaView = await attempt(will, [['view', 'CREATE VIEW SRC_V AS SELECT v FROM SRC'], ['through', 'INSERT INTO SRC_V VALUES (5)']]);
        expect(codes(viaView)).toEqual({ view: 'ok', through: 'TABLE_NOT_FOUND' });
        expect([await rowsOf('SRC'), await rowsOf('LOG')]).toEqual([2, 3]);
      }
      // PostgreSQL's triggers call a function, and its rules rewrite a statement: neither may be made.
      const ways: [string, string][] = ON_POSTGRES
        ? [
            ['trigger', 'CREATE TRIGGER T1 AFTER INSERT ON WILLS FOR EACH ROW EXECUTE FUNCTION src_audit()'],
            ['function', 'CREATE FUNCTION wipe() RETURNS trigger LANGUAGE sql AS $$ DELETE FROM "EMP" $$'],
            ['rule', 'CREATE RULE R1 AS ON INSERT TO WILLS DO ALSO DELETE FROM EMP'],
          ]
        : [
            ['trigger', 'CREATE TRIGGER T1 AFTER INSERT ON WILLS BEGIN DELETE FROM EMP; END'],
            ['temp trigger', 'CREATE TEMP TRIGGER T2 AFTER INSERT ON WILLS BEGIN DELETE FROM EMP; END'],
          ];
      const made = codes(
        await attempt(will, [
          ['own', 'CREATE TABLE WILLS (x INTEGER)'],
          ...ways,
          ['insert', 'INSERT INTO WILLS VALUES (1)'],
          // A foreign key's cascade would act inside the referenced table's owner's writes.
          ['foreign key', 'CREATE TABLE WILLS_FK (x INTEGER REFERENCES EMP(id) ON DELETE CASCADE)'],
        ]),
      );
      expect(made).toEqual({
        own: 'ok', ...Object.fromEntries(ways.map(([k]) => [k, 'PRIVILEGE'])), insert: 'ok', 'foreign key': 'PRIVILEGE',
      });
      await rejectsWith(will.table('WILLS_FK').count(), 'TABLE_NOT_FOUND');
      expect(await rowsOf('EMP')).toBe(2);
      expect(await rawQuery(db.path, TRIGGER_COUNT)).toEqual([{ n: ON_POSTGRES ? 2 : 1 }]);
    });

    // SQLite only: fts5 virtual tables and their shadow tables are SQLite's; PostgreSQL has no virtual tables
    // (its foreign tables need CREATE SERVER, refused with every other statement of that kind in pg-guard).
    if (!ON_POSTGRES) it('fts5 virtual tables: owned by their creator, checked by name; external content tables are refused', async () => {
      const made = codes(
        await attempt(will, [
          ['create', 'CREATE VIRTUAL TABLE NOTES USING fts5(body)'],
          ['insert', "INSERT INTO NOTES VALUES ('secret plans')"],
          ['match', "SELECT * FROM NOTES WHERE NOTES MATCH 'secret'"],
          ['external', "CREATE VIRTUAL TABLE LEAK USING fts5(sal, content='EMP')"],
          ['json', `SELECT * FROM json_each('[1, 2]')`],
          ['pragma function', "SELECT * FROM pragma_table_info('EMP')"],
        ]),
      );
      expect(made).toEqual({ create: 'ok', insert: 'ok', match: 'ok', external: 'PRIVILEGE', json: 'ok', 'pragma function': 'PRIVILEGE' });
      const probe: [string, string][] = [
        ['match', "SELECT * FROM NOTES WHERE NOTES MATCH 'secret'"],
        ['shadow', 'SELECT * FROM NOTES_content'],
        ['insert', "INSERT INTO NOTES VALUES ('spam')"],
        ['drop', 'DROP TABLE NOTES'],
      ];
      expect(codes(await attempt(nobody, probe))).toEqual({ match: 'TABLE_NOT_FOUND', shadow: 'TABLE_NOT_FOUND', insert: 'TABLE_NOT_FOUND', drop: 'TABLE_NOT_FOUND' });
      await will.grant({ table: 'NOTES', to: 'nobody' });
      expect(codes(await attempt(nobody, probe))).toEqual({ match: 'ok', shadow: 'TABLE_NOT_FOUND', insert: 'PRIVILEGE', drop: 'PRIVILEGE' });
      expect(await will.query(`SELECT * FROM NOTES`).count()).toBe(1);
      await rejectsWith(alice.table('LEAK').count(), 'TABLE_NOT_FOUND');
    });

    it('grants: only the owner grants, to known users or PUBLIC; revoke takes effect on the next call', async () => {
      await rejectsWith(rob.grant({ table: 'EMP', to: 'nobody' }), 'PRIVILEGE');
      await rejectsWith(will.revoke({ table: 'EMP', to: 'rob' }), 'PRIVILEGE');
      await rejectsWith(alice.grant({ table: 'EMP', to: 'ghost' }), 'BAD_INPUT');
      await rejectsWith(alice.grant({ table: 'EMP', to: 'rob', privilege: 'admin' as never }), 'BAD_INPUT');
      await rejectsWith(alice.grant({ script: 'x', to: 'rob', privilege: 'write' } as never), 'BAD_INPUT');
      expect(await rob.table('EMP').count()).toBe(2);
      expect(await alice.revoke({ table: 'EMP', to: 'rob' })).toBe(true);
      await rejectsWith(rob.table('EMP').count(), 'TABLE_NOT_FOUND');
      expect(codes(await attempt(rob, [['select', 'SELECT * FROM EMP']]))).toEqual({ select: 'TABLE_NOT_FOUND' });
      await alice.grant({ table: 'EMP', to: 'rob', privilege: 'write' });
      expect(codes(await attempt(rob, [['insert', 'INSERT INTO EMP VALUES (7, 70)'], ['delete', 'DELETE FROM EMP WHERE id = 7']]))).toEqual({ insert: 'ok', delete: 'ok' });
      await alice.grant({ table: 'EMP', to: 'rob', privilege: 'read' }); // replaces write
      expect(codes(await attempt(rob, [['insert', 'INSERT INTO EMP VALUES (7, 70)']]))).toEqual({ insert: 'PRIVILEGE' });
      expect(await alice.revoke({ table: 'EMP', to: 'nobody' })).toBe(false);
      expect(await rowsOf('EMP')).toBe(2);
    });

    it("create over someone else's table is refused; a dropped table's owner and grants go with it", async () => {
      await rejectsWith(rob.create('EMP', [{ id: 0 }], { overwrite: true }), 'PRIVILEGE');
      await rejectsWith(nobody.create('EMP', [{ id: 0 }], { overwrite: true }), 'PRIVILEGE');
      await rejectsWith(nobody.create('EMP', [{ id: 0 }]), 'ALREADY_EXISTS');
      expect(await rowsOf('EMP')).toBe(2);
      await alice.create('EMP', [{ id: 1, sal: 10 }, { id: 2, sal: 20 }], { overwrite: true }); // the owner may; grants stay
      if (ON_POSTGRES) {
        // PostgreSQL keeps no view over a dropped table (SQLite's EMP_V reads the new EMP): replacing EMP
        // drops the views over it (README Privileges), so that no reader's view can pin the owner's table.
        await rejectsWith(alice.query('SELECT * FROM EMP_V').pull(), 'TABLE_NOT_FOUND');
      }
      expect(await rob.table('EMP').count()).toBe(2);
      await alice.create('SCRATCH', [{ a: 1 }]);
      await alice.grant({ table: 'SCRATCH', to: 'PUBLIC', privilege: 'write' });
      expect(codes(await attempt(alice, [['drop', 'DROP TABLE SCRATCH']]))).toEqual({ drop: 'ok' });
      await nobody.create('SCRATCH', [{ b: 2 }]);
      expect(await engine.tables.owner('SCRATCH')).toBe('nobody');
      await rejectsWith(alice.table('SCRATCH').count(), 'TABLE_NOT_FOUND'); // the old PUBLIC grant went with the drop
    });

    it('tables made outside insitu: readable by everyone, writable by nobody, until an administrator gives them an owner', async () => {
      expect(await engine.tables.owner('FREE')).toBeNull();
      for (const s of [alice, nobody]) expect(await s.table('FREE').count()).toBe(1);
      expect(codes(await attempt(nobody, [['insert', 'INSERT INTO FREE VALUES (2)'], ['drop', 'DROP TABLE FREE']]))).toEqual({ insert: 'PRIVILEGE', drop: 'PRIVILEGE' });
      await rejectsWith(alice.grant({ table: 'FREE', to: 'rob' }), 'PRIVILEGE');
      await rejectsWith(engine.tables.setOwner('FREE', 'ghost'), 'BAD_INPUT');
      await rejectsWith(engine.tables.setOwner('NO_SUCH', 'alice'), 'TABLE_NOT_FOUND');
      await engine.tables.setOwner('FREE', 'alice');
      expect(codes(await attempt(alice, [['insert', 'INSERT INTO FREE VALUES (2)']]))).toEqual({ insert: 'ok' });
      await rejectsWith(nobody.table('FREE').count(), 'TABLE_NOT_FOUND');
      expect(await rowsOf('FREE')).toBe(2);
    });

    it('refusals write nothing and create no file', () => {
      // On PostgreSQL the directory beside the database stays empty.
      expect(readdirSync(db.dir).sort()).toEqual(ON_POSTGRES ? [] : ['test.db', 'test.db-shm', 'test.db-wal']);
    });
  });
}

describe("createEngine({ unownedTables: 'none' })", () => {
  const db = tempDatabase();
  let engine: Engine;

  beforeAll(async () => {
    await rawQuery(db.path, 'CREATE TABLE "LEGACY" (a INTEGER)');
    await rawQuery(db.path, 'INSERT INTO "LEGACY" VALUES (1)');
    engine = await createEngine({ database: db.path, workers: 1, osSandbox: 'none', unownedTables: 'none' });
  });
  afterAll(async () => {
    await engine?.close();
    db.cleanup();
  });

  it('makes tables without owner invisible on the host and in the workers, until one is adopted', async () => {
    await rejectsWith(createEngine({ database: db.path, unownedTables: 'all' as never }), 'BAD_INPUT');
    const u = engine.session({ user: 'u' });
    await rejectsWith(u.table('LEGACY').count(), 'TABLE_NOT_FOUND');
    const read = 'import insitu\ndef f():\n    try:\n        return len(insitu.connect().query("SELECT * FROM LEGACY"))\n    except insitu.InsituError as e:\n        return e.code';
    expect((await u.doEval({ source: read })).value).toBe('TABLE_NOT_FOUND');
    await engine.tables.setOwner('LEGACY', 'u');
    expect(await u.table('LEGACY').count()).toBe(1);
    expect((await u.doEval({ source: read })).value).toBe(1);
  });
});
