import Database from 'better-sqlite3';
import { tableFromArrays } from 'apache-arrow';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InsituError, TableProxy } from '@insitu/core';
import { MIGRATIONS, SqliteStorage } from '../dist/index.js';

let dir: string;
let storage: SqliteStorage;
const q = (sql: string, params: unknown[] = []) => ({ sql, params: params as never[] });
const codeOf = async (p: Promise<unknown>) => p.then(() => 'no error', (e: InsituError) => e.code);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'insitu-adapter-'));
  storage = new SqliteStorage(join(dir, 'a.db'));
});
afterAll(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SqliteStorage tables', () => {
  it('round-trips every supported type with nulls from row objects', async () => {
    const rows = [
      { i: 1, f: 1.5, s: 'a', b: true, d: new Date('2024-02-29T10:20:30.123Z'), x: new Uint8Array([0, 255]) },
      { i: null, f: null, s: null, b: null, d: null, x: null },
      { i: -9007199254740991, f: -0.25, s: 'héllo ✓', b: false, d: new Date(0), x: new Uint8Array([]) },
    ];
    await storage.createTable('TYPES', rows, { owner: 'tester' });
    const t = await new TableProxy(storage, 'tester', { kind: 'table', name: 'TYPES' }).pull({ int64: 'bigint' });
    expect(t.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual([
      'i:Int64', 'f:Float64', 's:Utf8', 'b:Bool', 'd:Timestamp<MILLISECOND>', 'x:Binary',
    ]);
    const got = t.toArray().map((r) => r.toJSON());
    expect(got[0]).toEqual({ i: 1n, f: 1.5, s: 'a', b: true, d: Date.parse('2024-02-29T10:20:30.123Z'), x: new Uint8Array([0, 255]) });
    expect(got[1]).toEqual({ i: null, f: null, s: null, b: null, d: null, x: null });
    expect(got[2]).toEqual({ i: -9007199254740991n, f: -0.25, s: 'héllo ✓', b: false, d: 0, x: new Uint8Array([]) });
  });

  it('maps declared SQLite types: SMALLINT -> Int32, DATE -> Date, BOOLEAN -> Bool, untyped expressions by value', async () => {
    const db = new Database(join(dir, 'a.db'));
    db.exec(`CREATE TABLE DECL (a SMALLINT, d DATE, ts DATETIME, ok BOOLEAN, n NUMERIC, v VARCHAR(10));
             INSERT INTO DECL VALUES (7, '2020-01-31', '2020-01-31 12:00:00', 1, 2, 'x'), (NULL, NULL, NULL, 0, NULL, NULL);`);
    db.close();
    const proxy = new TableProxy(storage, 'tester', { kind: 'table', name: 'DECL' });
    const t = await proxy.pull({ int64: 'bigint' });
    expect(t.schema.fields.map((f) => String(f.type))).toEqual(['Int32', 'Date32<DAY>', 'Timestamp<MILLISECOND>', 'Bool', 'Float64', 'Utf8']);
    expect(t.get(0)!.toJSON()).toEqual({ a: 7, d: Date.UTC(2020, 0, 31), ts: Date.UTC(2020, 0, 31, 12), ok: true, n: 2, v: 'x' });
    const expr = await new TableProxy(storage, 'tester', { kind: 'query', sql: 'select a + 1 as a1, v || ? as v2 from DECL', params: ['!'] }).pull({ int64: 'bigint' });
    expect(expr.toArray().map((r) => r.toJSON())).toEqual([{ a1: 8n, v2: 'x!' }, { a1: null, v2: null }]);
  });

  it('creates tables from Arrow tables and refuses to clobber without overwrite', async () => {
    const arrow = tableFromArrays({ k: Int32Array.from([1, 2, 3]), name: ['a', 'b', 'c'] });
    await storage.createTable('ARW', arrow, { owner: 'tester' });
    expect(await codeOf(storage.createTable('ARW', [{ k: 9 }], { owner: 'tester' }))).toBe('ALREADY_EXISTS');
    expect(await storage.count(q('select * from ARW'), 'tester')).toBe(3);
    await storage.createTable('ARW', [{ k: 9 }], { overwrite: true, owner: 'tester' });
    expect(await storage.count(q('select * from ARW'), 'tester')).toBe(1);
  });

  it('leaves the old table intact when an overwrite fails', async () => {
    await storage.createTable('KEEP', [{ a: 1 }, { a: 2 }], { owner: 'tester' });
    expect(await codeOf(storage.createTable('KEEP', [{ a: 1 }, { a: 'text' }], { overwrite: true, owner: 'tester' }))).toBe('BAD_INPUT');
    expect(await codeOf(storage.createTable('KEEP', [{ a: 1 }, { a: {} as never }], { overwrite: true, owner: 'tester' }))).toBe('BAD_INPUT');
    const t = await new TableProxy(storage, 'tester', { kind: 'table', name: 'KEEP' }).pull();
    expect(t.toArray().map((r) => Number(r.a))).toEqual([1, 2]);
  });

  it('streams scans in batches of the asked size and cuts batches where key columns change', async () => {
    await storage.createTable('BIG', Array.from({ length: 1000 }, (_, i) => ({ g: Math.floor(i / 300), v: i })), { owner: 'tester' });
    const sizes: number[] = [];
    for await (const b of storage.scan(q('select * from BIG order by v'), { batchRows: 128, user: 'tester' })) sizes.push(b.numRows);
    expect(sizes.length).toBe(8);
    expect(sizes.slice(0, 7).every((n) => n === 128)).toBe(true);
    expect(sizes.reduce((a, b) => a + b)).toBe(1000);
    const groups: [number, number][] = [];
    for await (const b of storage.scan(q('select * from BIG order by g, v'), { batchRows: 256, breakOn: ['g'], user: 'tester' })) {
      const g = b.getChild('g')!.toArray() as BigInt64Array;
      expect(new Set(g).size).toBe(1);
      groups.push([Number(g[0]), b.numRows]);
    }
    expect(groups).toEqual([[0, 256], [0, 44], [1, 256], [1, 44], [2, 256], [2, 44], [3, 100]]);
  });

  it('refuses writes, several statements, ATTACH, PRAGMA writes, writing CTEs and engine tables, changing nothing', async () => {
    await storage.createTable('VICTIM', [{ a: 1 }], { owner: 'tester' });
    for (const sql of [
      'DELETE FROM VICTIM',
      'SELECT 1; DELETE FROM VICTIM',
      'SELECT * FROM VICTIM; DROP TABLE VICTIM',
      "ATTACH DATABASE 'other.db' AS other",
      'PRAGMA user_version = 99',
      'WITH x AS (SELECT 1) DELETE FROM VICTIM',
      'WITH x AS (SELECT 1) INSERT INTO VICTIM SELECT 2 FROM x',
      'SELECT * FROM insitu_engine_scripts',
      'SELECT * FROM VICTIM WHERE a IN (SELECT length(source) FROM INSITU_ENGINE_SCRIPTS)',
      'SELECT * FROM nowhere_table',
      'SELEC oops',
    ]) {
      const code = await codeOf(storage.describe(q(sql), 'tester'));
      expect(['BAD_INPUT', 'TABLE_NOT_FOUND', 'PRIVILEGE'], sql).toContain(code);
    }
    expect(await storage.count(q('select * from VICTIM'), 'tester')).toBe(1);
    expect(await codeOf(storage.describe(q('select * from nowhere_table'), 'tester'))).toBe('TABLE_NOT_FOUND');
    const db = new Database(join(dir, 'a.db'), { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });

  it('binds parameters instead of splicing them', async () => {
    await storage.createTable('PEOPLE', [{ name: "O'Brien" }, { name: 'x' }], { owner: 'tester' });
    const t = await new TableProxy(storage, 'tester', { kind: 'query', sql: 'select * from PEOPLE where name = ?', params: ["O'Brien"] }).pull();
    expect(t.numRows).toBe(1);
    expect(await storage.count(q('select * from PEOPLE where name = ?', ["x' OR '1'='1"]), 'tester')).toBe(0);
  });

  it('works on :memory: databases', async () => {
    const mem = new SqliteStorage(':memory:');
    await mem.createTable('M', [{ a: 1 }, { a: 2 }, { a: 3 }], { owner: 'tester' });
    const sizes: number[] = [];
    for await (const b of mem.scan(q('select * from M'), { batchRows: 2, user: 'tester' })) sizes.push(b.numRows);
    expect(sizes).toEqual([2, 1]);
    await mem.close();
  });

  it('opens an existing database without re-running migrations and keeps its data', async () => {
    const again = new SqliteStorage(join(dir, 'a.db'));
    expect(await again.hasTable('TYPES')).toBe(true);
    await again.close();
  });
});

describe('worker reads of split scans', () => {
  const rowsOf = (t: { toArray(): { toJSON(): unknown }[] }) => t.toArray().map((r) => r.toJSON());

  it('reads each chunk column by column with the same rows, types and nulls as row by row', async () => {
    const rows = Array.from({ length: 50 }, (_, i) => ({
      i: i % 7 === 0 ? null : i * 1000,
      f: i % 5 === 0 ? null : i / 4,
      s: i % 6 === 0 ? null : `row ${i} ✓`,
      b: i % 3 === 0,
      x: i % 4 === 0 ? null : new Uint8Array([i, 255 - i]),
    }));
    await storage.createTable('CHUNKED', rows, { owner: 'tester' });
    const db = new Database(join(dir, 'a.db'));
    db.exec('DELETE FROM CHUNKED WHERE rowid % 11 = 0'); // holes in the rowids
    db.close();
    const scan = { table: 'CHUNKED', columns: null, filters: [{ sql: '"i" IS NULL OR "i" % 3000 <> ?', params: [0] }] };
    const { openContextConnection } = await import('../dist/sqlite/sqlite-context.js');
    const conn = openContextConnection(join(dir, 'a.db'), { user: 'tester' });
    try {
      let total = 0;
      for await (const chunk of (await storage.splitScan(scan, 7, 'tester'))!) {
        expect(chunk.query.byColumn).toHaveLength(5);
        const byRow = conn.query(chunk.query.sql, chunk.query.params);
        const byCol = conn.query(chunk.query.sql, chunk.query.params, chunk.query.byColumn);
        expect(String(byCol.schema)).toBe(String(byRow.schema));
        expect(rowsOf(byCol)).toEqual(rowsOf(byRow));
        total += byCol.numRows;
      }
      expect(total).toBe(await storage.count(q('SELECT * FROM CHUNKED WHERE rowid % 11 <> 0 AND ("i" IS NULL OR "i" % 3000 <> 0)'), 'tester'));
    } finally {
      conn.close();
    }
  });

  it('falls back to row reads when a column has no declared type', async () => {
    const db = new Database(join(dir, 'a.db'));
    db.exec(`CREATE TABLE LOOSE (a, b INTEGER); INSERT INTO LOOSE VALUES (1, 2), ('two', 3), (NULL, 4);`);
    db.close();
    const { openContextConnection } = await import('../dist/sqlite/sqlite-context.js');
    const conn = openContextConnection(join(dir, 'a.db'), { user: 'tester' });
    try {
      const chunks = [];
      for await (const c of (await storage.splitScan({ table: 'LOOSE', columns: ['b', 'a'], filters: [] }, 10, 'tester'))!) chunks.push(c);
      expect(chunks).toHaveLength(1);
      const t = conn.query(chunks[0]!.query.sql, chunks[0]!.query.params, chunks[0]!.query.byColumn);
      expect(rowsOf(t)).toEqual([{ b: 2n, a: '1' }, { b: 3n, a: 'two' }, { b: 4n, a: null }]);
    } finally {
      conn.close();
    }
  });
});

describe('SqliteStorage users', () => {
  it('registers, on upgrade, the users that already own or hold objects (not PUBLIC)', async () => {
    const path = join(dir, 'v2.db');
    const db = new Database(path);
    db.exec(MIGRATIONS[0]!);
    db.exec(MIGRATIONS[1]!);
    db.pragma('user_version = 2');
    const at = new Date(0).toISOString();
    db.prepare(`INSERT INTO insitu_scripts VALUES ('s', 'olive', 0, 'olive', 'def s(): pass', '', ?)`).run(at);
    db.prepare(`INSERT INTO insitu_datastores VALUES ('dora', 'd', '', 1, ?)`).run(at);
    db.prepare(`INSERT INTO insitu_grants VALUES ('datastore', 'dora', 'd', 'gus', ?)`).run(at);
    db.prepare(`INSERT INTO insitu_grants VALUES ('datastore', 'dora', 'd', 'PUBLIC', ?)`).run(at);
    db.prepare(`INSERT INTO insitu_grants VALUES ('datastore', 'dora', 'd', 'ann@example.com', ?)`).run(at);
    db.close();
    const upgraded = new SqliteStorage(path);
    try {
      expect((await upgraded.listUsers()).map((u) => u.name)).toEqual(['ann@example.com', 'dora', 'gus', 'olive']);
      expect(await codeOf(upgraded.putUser({ name: 'gus', description: '', created: new Date() }, { ifMissing: false }))).toBe('ALREADY_EXISTS');
      expect(await upgraded.putUser({ name: 'gus', description: '', created: new Date() }, { ifMissing: true })).toBe(false);
      // dora owns a datastore and two grants on it: refused without cascade, nothing removed.
      expect(await upgraded.deleteUser('dora', { cascade: false })).toEqual({ deleted: false, owned: { scripts: 0, datastores: 1, tables: 0, grants: 3 }, revoked: 0 });
      expect(await upgraded.getDatastore('dora', 'd')).not.toBeNull();
      expect(await upgraded.deleteUser('gus', { cascade: false })).toEqual({ deleted: true, owned: { scripts: 0, datastores: 0, tables: 0, grants: 0 }, revoked: 1 });
      expect(await upgraded.deleteUser('dora', { cascade: true })).toMatchObject({ deleted: true, revoked: 0 });
      expect(await upgraded.getDatastore('dora', 'd')).toBeNull();
      expect(await upgraded.hasGrant('datastore', 'dora', 'd', 'anyone')).toBe(false);
      expect(await upgraded.deleteUser('nobody', { cascade: true })).toBeNull();
      expect((await upgraded.listUsers()).map((u) => u.name)).toEqual(['ann@example.com', 'olive']);
    } finally {
      await upgraded.close();
    }
    // Migration 8 moved the tables whose names the SQL catalog functions take; the objects' foreign key followed.
    const raw = new Database(path, { readonly: true });
    try {
      const names = raw.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table'`).pluck().all() as string[];
      for (const gone of ['insitu_scripts', 'insitu_datastores', 'insitu_grants', 'insitu_jobs', 'insitu_schedule_runs']) {
        expect(names).not.toContain(gone);
        expect(names).toContain(gone.replace('insitu_', 'insitu_engine_'));
      }
      expect(raw.prepare(`SELECT sql FROM sqlite_schema WHERE name = 'insitu_datastore_objects'`).pluck().get()).toContain('"insitu_engine_datastores"');
    } finally {
      raw.close();
    }
  });
});

describe('tables without an insitu owner', () => {
  it('follow the unownedTables rule: read (default), write or none; a table made through insitu is its owner\'s', async () => {
    const path = join(dir, 'unowned.db');
    const admin = new Database(path);
    admin.exec('CREATE TABLE LEGACY (a INTEGER); INSERT INTO LEGACY VALUES (1);');
    admin.close();
    const { openContextConnection } = await import('../dist/sqlite/sqlite-context.js');
    const outcome = (f: () => unknown) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return (e as InsituError).code;
      }
    };
    const seen: Record<string, string[]> = {};
    for (const unownedTables of ['read', 'write', 'none'] as const) {
      const s = new SqliteStorage(path, { unownedTables });
      const conn = openContextConnection(path, { user: 'u1', unownedTables });
      try {
        seen[unownedTables] = [
          await codeOf(s.count(q('SELECT * FROM LEGACY'), 'u1')),
          outcome(() => conn.query('SELECT * FROM LEGACY', [])),
          outcome(() => conn.execute('UPDATE LEGACY SET a = a', [], 'write')),
          outcome(() => conn.execute('DROP TABLE LEGACY', [], 'write')),
          await codeOf(s.createTable('LEGACY', [{ a: 2 }], { owner: 'u1', overwrite: true })),
        ];
      } finally {
        conn.close();
        await s.close();
      }
    }
    expect(seen).toEqual({
      read: ['no error', 'ok', 'PRIVILEGE', 'PRIVILEGE', 'PRIVILEGE'],
      write: ['no error', 'ok', 'ok', 'PRIVILEGE', 'PRIVILEGE'],
      none: ['TABLE_NOT_FOUND', 'TABLE_NOT_FOUND', 'TABLE_NOT_FOUND', 'TABLE_NOT_FOUND', 'PRIVILEGE'],
    });
    // Adopted, it is its owner's alone.
    const s = new SqliteStorage(path, { unownedTables: 'write' });
    try {
      await s.setTableOwner('LEGACY', 'u1');
      expect(await s.tableAccess('legacy', 'u1')).toBe('owner');
      expect(await s.tableAccess('LEGACY', 'u2')).toBe('none');
      await s.putTableGrant({ table: 'LEGACY', grantee: 'PUBLIC', privilege: 'write' });
      expect(await s.tableAccess('LEGACY', 'u2')).toBe('write');
      expect(await s.deleteTableGrant('LEGACY', 'PUBLIC')).toBe(true);
      expect(await s.tableAccess('LEGACY', 'u2')).toBe('none');
      expect(await s.getTableOwnership('legacy')).toEqual({ name: 'LEGACY', owner: 'u1' });
      expect(await s.getTableOwnership('NOPE')).toBeNull();
    } finally {
      await s.close();
    }
  });
});

describe('SqliteStorage schedules', () => {
  const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);
  const schedule = (name: string) => ({
    owner: 'alice',
    name,
    call: '{"kind":"doEval","func":"f"}',
    schedule: '{"every":60000}',
    enabled: true,
    autoDrop: false,
    maxRuns: null,
    nextRun: at(0),
    created: at(-1),
  });

  it('lets one of two connections claim a due run, once, and logs it', async () => {
    const other = new SqliteStorage(join(dir, 'a.db'));
    try {
      expect(await storage.insertSchedule(schedule('every_minute'))).toBe(true);
      expect(await storage.insertSchedule(schedule('every_minute'))).toBe(false);
      const [a] = await storage.dueSchedules(at(5), 10);
      const [b] = await other.dueSchedules(at(5), 10);
      expect(a!.revision).toBe(b!.revision);
      const advance = { owner: 'alice', name: 'every_minute', revision: a!.revision, nextRun: at(60_000), enabled: true, drop: false };
      const run = { owner: 'alice', schedule: 'every_minute', trigger: 'schedule' as const, due: at(0), claimed: at(5) };
      const claims = await Promise.all([storage.claimRun(advance, run), other.claimRun(advance, run)]);
      expect(claims.filter((c) => c !== null)).toHaveLength(1);
      expect(await storage.dueSchedules(at(5), 10)).toEqual([]);
      const s = await other.getSchedule('alice', 'every_minute');
      expect(s).toMatchObject({ runCount: 1, nextRun: at(60_000), enabled: true });
      expect(await storage.listRuns({ owner: 'alice', limit: 10 })).toMatchObject([{ schedule: 'every_minute', trigger: 'schedule', due: at(0), jobId: null, outcome: null }]);
      expect(await storage.listRuns({ owner: 'bob', limit: 10 })).toEqual([]);
      expect(await storage.getSchedule('bob', 'every_minute')).toBeNull();
      expect(await storage.deleteSchedule('alice', 'every_minute')).toBe(true);
      expect(await storage.listRuns({ owner: 'alice', limit: 10 })).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
