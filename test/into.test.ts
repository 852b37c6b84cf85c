// `into`: an apply call's result table written into SQLite as partitions finish and committed once at
// the end. A failed or cancelled call leaves the target exactly as it was, and the privileges are
// those of session.create (create), a table write (append) and a table replace (replace).
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TableProxy, createEngine, type Engine, type Session } from 'insitu';
import { ON_POSTGRES, pgColumn } from './backend.js';
import { rejectsWith, tempDatabase } from './helpers.js';

const SCORE = `
def score(df, k=1):
    print(f"chunk of {len(df)}")
    return {"ID": list(df["ID"]), "S": [x * k for x in df["X"]], "TAG": ["t" + str(i) for i in df["ID"]]}
`;

describe('into', () => {
  let engine: Engine;
  let alice: Session;
  let bob: Session;
  const db = tempDatabase();

  beforeAll(async () => {
    engine = await createEngine({ database: db.path, workers: 2 });
    alice = engine.session({ user: 'alice' });
    bob = engine.session({ user: 'bob' });
    await alice.create('SRC', Array.from({ length: 100 }, (_, i) => ({ ID: i + 1, X: (i + 1) / 2, G: i % 3 })));
    await alice.scripts.create('score', SCORE);
    await alice.grant({ script: 'score', to: 'PUBLIC' });
  });
  afterAll(async () => {
    await engine?.close();
    db.cleanup();
  });

  /** The rows of a table as alice reads it, ordered by ID. */
  async function rows(table: string): Promise<Record<string, unknown>[]> {
    const plain = (v: unknown): unknown => (typeof v === 'bigint' ? Number(v) : v);
    return (await alice.query(`SELECT * FROM ${table} ORDER BY ID`).pull()).toArray().map((r) => Object.fromEntries(Object.entries({ ...r }).map(([k, v]) => [k, plain(v)])));
  }

  /** Staging tables left in the database (read beside the engine, as an administrator would). */
  function stagingTables(): string[] {
    if (ON_POSTGRES) return pgColumn(db.path, `SELECT relname FROM pg_class WHERE relname LIKE 'insitu\\_into\\_%' ORDER BY relname`);
    const raw = new Database(db.path, { readonly: true });
    try {
      return (raw.prepare(`SELECT name FROM sqlite_schema WHERE name LIKE 'insitu_into_%'`).all() as { name: string }[]).map((r) => r.name);
    } finally {
      raw.close();
    }
  }

  it('rowApply writes every chunk in table order, typed from the Arrow schema; value is the proxy and the rows are counted', async () => {
    const r = await alice.rowApply(alice.table('SRC'), 'score', { rows: 7, parallel: true, args: { k: 2 }, into: { table: 'SCORES' } });
    expect(r.value).toBeInstanceOf(TableProxy);
    expect(r.into).toEqual({ table: 'SCORES', mode: 'create', rows: 100 });
    expect(r.partitions).toHaveLength(15);
    expect(r.partitions[14]!.value).toEqual({ rows: 2 });
    expect(r.partitions[0]!.stdout).toBe('chunk of 7\n');
    const written = await (r.value as TableProxy).pull();
    expect(written.numRows).toBe(100);
    expect(written.toArray().map((x) => Number(x.ID))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect((await rows('SCORES'))[9]).toEqual({ ID: 10, S: 10, TAG: 't10' });
    const types = (await alice.table('SCORES').schema()).fields.map((f) => `${f.name} ${String(f.type)}`);
    expect(types).toEqual(['ID Int64', 'S Float64', 'TAG Utf8']);
    expect(stagingTables()).toEqual([]);
  });

  it('groupApply writes the key columns first, as its value has them; tableApply and doEval write their one table', async () => {
    const g = await alice.groupApply(alice.table('SRC'), ['G'], { source: 'def f(df):\n    return {"N": [len(df)]}' }, { into: { table: 'PER_G' } });
    expect(g.into?.rows).toBe(3);
    expect((await alice.query('SELECT G, N FROM PER_G ORDER BY G').pull()).toArray().map((x) => [Number(x.G), Number(x.N)])).toEqual([[0, 34], [1, 33], [2, 33]]);
    const t = await alice.tableApply(alice.table('SRC'), 'score', { into: { table: 'WHOLE' } });
    expect(t.into?.rows).toBe(100);
    const e = await alice.doEval({ source: 'def f():\n    return [{"ID": 1, "A": "x"}]' }, { into: { table: 'ONE' } });
    expect(await rows('ONE')).toEqual([{ ID: 1, A: 'x' }]);
    expect(e.value).toBeInstanceOf(TableProxy);
  });

  it('create refuses an existing table before any Python runs; append adds rows; replace swaps the table whole and keeps its grants', async () => {
    await alice.create('T_CR', [{ ID: 0, S: 0.5, TAG: 'old' }]);
    await rejectsWith(alice.rowApply(alice.table('SRC'), 'score', { rows: 50, into: { table: 'T_CR' } }), 'ALREADY_EXISTS');
    expect(await rows('T_CR')).toEqual([{ ID: 0, S: 0.5, TAG: 'old' }]);

    const a = await alice.rowApply(alice.table('SRC').where('ID <= ?', 3), 'score', { rows: 2, into: { table: 'T_CR', mode: 'append' } });
    expect(a.into).toEqual({ table: 'T_CR', mode: 'append', rows: 3 });
    expect((await rows('T_CR')).map((x) => x.TAG)).toEqual(['old', 't1', 't2', 't3']);

    await alice.grant({ table: 'T_CR', to: 'bob', privilege: 'read' });
    await alice.rowApply(alice.table('SRC').where('ID <= ?', 2), 'score', { rows: 1, into: { table: 'T_CR', mode: 'replace' } });
    expect((await rows('T_CR')).map((x) => x.TAG)).toEqual(['t1', 't2']);
    expect(await bob.table('T_CR').count()).toBe(2);
  });

  it("another user's table: append needs write privilege (TABLE_NOT_FOUND unseen, PRIVILEGE read-only), replace needs ownership", async () => {
    await alice.create('T_PRIV', [{ ID: 0, S: 0.5, TAG: 'a' }]);
    await alice.grant({ table: 'SRC', to: 'bob', privilege: 'read' });
    const src = bob.table('SRC').where('ID <= ?', 2);
    const score = { name: 'score', owner: 'alice' };
    await rejectsWith(bob.rowApply(src, score, { into: { table: 'T_PRIV', mode: 'append' } }), 'TABLE_NOT_FOUND');
    await alice.grant({ table: 'T_PRIV', to: 'bob', privilege: 'read' });
    await rejectsWith(bob.rowApply(src, score, { into: { table: 'T_PRIV', mode: 'append' } }), 'PRIVILEGE');
    await alice.grant({ table: 'T_PRIV', to: 'bob', privilege: 'write' });
    await rejectsWith(bob.rowApply(src, score, { into: { table: 'T_PRIV', mode: 'replace' } }), 'PRIVILEGE');
    await bob.rowApply(src, score, { into: { table: 'T_PRIV', mode: 'append' } });
    expect((await rows('T_PRIV')).map((x) => x.TAG)).toEqual(['a', 't1', 't2']);
    // The table bob creates is his: alice cannot see it without a grant.
    await bob.rowApply(src, score, { into: { table: 'BOBS' } });
    await rejectsWith(alice.table('BOBS').count(), 'TABLE_NOT_FOUND');
    // Engine tables are never a target.
    await rejectsWith(bob.rowApply(src, score, { into: { table: 'insitu_jobs', mode: 'append' } }), 'BAD_INPUT');
  });

  it('a failing partition leaves the target exactly as it was and no staging table behind', async () => {
    await alice.create('T_FAIL', [{ ID: 0, S: 0.5, TAG: 'before' }]);
    const failing = { source: `def f(df):\n    if df["ID"][0] > 60:\n        raise ValueError("bad chunk")\n    return {"ID": list(df["ID"]), "S": [0.0] * len(df), "TAG": ["new"] * len(df)}` };
    for (const mode of ['append', 'replace'] as const) {
      const e = await rejectsWith(alice.rowApply(alice.table('SRC'), failing, { rows: 10, parallel: true, into: { table: 'T_FAIL', mode } }), 'PYTHON_ERROR');
      expect(e.message).toContain('bad chunk');
      expect(await rows('T_FAIL')).toEqual([{ ID: 0, S: 0.5, TAG: 'before' }]);
    }
    await rejectsWith(alice.rowApply(alice.table('SRC'), failing, { rows: 10, into: { table: 'T_FAIL_NEW' } }), 'PYTHON_ERROR');
    await rejectsWith(alice.table('T_FAIL_NEW').count(), 'TABLE_NOT_FOUND');
    expect(stagingTables()).toEqual([]);
  });

  it('a cancelled call stops its partitions and writes nothing', async () => {
    await alice.create('T_CANCEL', [{ ID: 0, S: 0.5, TAG: 'before' }]);
    const slow = { source: 'import time\ndef f(df):\n    time.sleep(0.2)\n    return {"ID": list(df["ID"]), "S": [1.0] * len(df), "TAG": ["new"] * len(df)}' };
    const ac = new AbortController();
    const call = alice.rowApply(alice.table('SRC'), slow, {
      rows: 5,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.partitionsDone >= 2) ac.abort();
      },
      into: { table: 'T_CANCEL', mode: 'replace' },
    });
    await rejectsWith(call, 'CANCELLED');
    expect(await rows('T_CANCEL')).toEqual([{ ID: 0, S: 0.5, TAG: 'before' }]);
    expect(stagingTables()).toEqual([]);
  });

  it('results that are not one table schema are BAD_RESULT; a malformed into is BAD_INPUT naming the field', async () => {
    await rejectsWith(alice.rowApply(alice.table('SRC'), { source: 'def f(df):\n    return len(df)' }, { rows: 50, into: { table: 'T_BAD1' } }), 'BAD_RESULT');
    const mixed = { source: 'def f(df):\n    return {"A": [1]} if df["ID"][0] == 1 else {"B": ["x"]}' };
    const e = await rejectsWith(alice.rowApply(alice.table('SRC'), mixed, { rows: 50, into: { table: 'T_BAD2' } }), 'BAD_RESULT');
    expect(e.message).toContain('same columns');
    await rejectsWith(alice.table('T_BAD2').count(), 'TABLE_NOT_FOUND');
    const bad = await rejectsWith(alice.run({ kind: 'doEval', func: 'score', options: { into: { table: 'X', mode: 'upsert' } } } as never), 'BAD_INPUT');
    expect(bad.message).toContain('call.options.into.mode');
    expect(stagingTables()).toEqual([]);
  });

  it('the staging table is out of reach: no user can read or write it, from the host or a UDF, while the call writes', async () => {
    const slow = { source: 'import time\ndef f(df):\n    time.sleep(0.2)\n    return {"ID": list(df["ID"])}' };
    const call = alice.rowApply(alice.table('SRC'), slow, { rows: 10, into: { table: 'T_SPY' } });
    let staging: string | undefined;
    for (let i = 0; i < 400 && staging === undefined; i++) {
      staging = stagingTables()[0];
      if (staging === undefined) await new Promise((r) => setTimeout(r, 25));
    }
    expect(staging).toMatch(/^insitu_into_/);
    for (const s of [alice, bob]) {
      await rejectsWith(s.query(`SELECT * FROM ${staging}`).pull(), 'BAD_INPUT');
      const read = { source: `import insitu\ndef f():\n    return insitu.connect().query("SELECT count(*) AS n FROM ${staging}").to_dict()` };
      expect((await rejectsWith(s.doEval(read), 'BAD_INPUT')).message).toContain('engine tables');
      const write = { source: `import insitu\ndef f():\n    return insitu.connect().execute("INSERT INTO ${staging} VALUES (-1)")` };
      expect((await rejectsWith(s.doEval(write, { context: 'write' }), 'PRIVILEGE')).message).toContain('engine tables');
    }
    const r = await call;
    expect(r.into?.rows).toBe(100);
    expect((await alice.table('T_SPY').pull()).toArray().map((x) => Number(x.ID))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('jobs take into: the job writes the table and its result is the proxy', async () => {
    const { id } = await alice.jobs.submit({ kind: 'rowApply', data: alice.table('SRC'), func: 'score', options: { rows: 25, into: { table: 'JOB_OUT' } } });
    expect((await alice.jobs.wait(id, { timeoutMs: 60_000 })).state).toBe('succeeded');
    const r = await alice.jobs.result(id);
    expect(r.into).toEqual({ table: 'JOB_OUT', mode: 'create', rows: 100 });
    expect(await (r.value as TableProxy).count()).toBe(100);
    // Checked at submit: an existing table is refused before the job is stored.
    await rejectsWith(alice.jobs.submit({ kind: 'rowApply', data: alice.table('SRC'), func: 'score', options: { into: { table: 'JOB_OUT' } } }), 'ALREADY_EXISTS');
  });
});
