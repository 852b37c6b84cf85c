import Database from 'better-sqlite3';
import { PNG_SOURCE } from './package-mirror.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type InsituError, type Session } from 'insitu';
import { irisRows, tempDatabase } from './helpers.js';

// Python from SQL (README "From SQL"): the insitu_* functions on the caller's own better-sqlite3
// connection to the engine's file, run as the session's user by the SQL host thread's engine.

const db = tempDatabase();
let engine: Engine;
let alice: Session;
let bob: Session;
let sql: Database.Database;

const BUILD_MODEL = `
import insitu

def build_model(df):
    means = {}
    for r in df:
        means.setdefault(r["SPECIES"], []).append(r["PETAL_WIDTH"])
    model = {k: sum(v) / len(v) for k, v in means.items()}
    insitu.ds.save({"model": model}, "ds_iris", overwrite=True)
    return {"SPECIES": list(model), "MEAN": list(model.values())}
`;
const REGR_PREDICT = `
import insitu

def regr_predict(dat):
    model = insitu.ds.load("ds_iris", objs=["model"])["model"]
    return {"SPECIES": list(dat["SPECIES"]), "PETAL_WIDTH": list(dat["PETAL_WIDTH"]), "PRED": [model[s] for s in dat["SPECIES"]]}
`;

/** Run `f` and return the error it throws (it must throw). */
function thrown(f: () => unknown): InsituError {
  try {
    f();
  } catch (e) {
    return e as InsituError;
  }
  throw new Error('expected the statement to fail');
}

/** Mean PETAL_WIDTH per species, as build_model computes it. */
const MEANS: Record<string, number> = {};
for (const s of ['setosa', 'versicolor', 'virginica']) {
  const w = irisRows().filter((r) => r['SPECIES'] === s).map((r) => r['PETAL_WIDTH'] as number);
  MEANS[s] = w.reduce((a, b) => a + b, 0) / w.length;
}

const count = (table: string): number => sql.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2 });
  alice = engine.session({ user: 'alice' });
  bob = engine.session({ user: 'bob' });
  await alice.create('IRIS', irisRows());
  await alice.create('SPECIES_INFO', [
    { SPECIES: 'setosa', COLOR: 'blue' },
    { SPECIES: 'versicolor', COLOR: 'purple' },
    { SPECIES: 'virginica', COLOR: 'violet' },
  ]);
  await alice.create('PREDS', [{ SPECIES: 'x', PRED: 0 }]);
  await alice.scripts.create('build_model', BUILD_MODEL);
  await alice.scripts.create('regr_predict', REGR_PREDICT);
  await alice.scripts.create('group_count', 'def group_count(df, k=1):\n    return {"N": [len(df) * k]}');
  await alice.scripts.create('sim', 'def sim(i, scale=1):\n    return {"I": [i], "SQ": [i * i * scale]}');
  await alice.scripts.create('boom', 'def boom(df):\n    if len(df) > 0 and df["SPECIES"][0] == "virginica":\n        raise ValueError("bad chunk")\n    return {"SPECIES": list(df["SPECIES"]), "PRED": [1.5] * len(df)}');
  await alice.scripts.create('texty', 'def texty():\n    return {"N": ["not a number"]}');
  await alice.scripts.create('nap', 'import time\n\ndef nap(s=30):\n    time.sleep(s)\n    return 1');
  await bob.scripts.create('bob_private', 'def bob_private():\n    return "secret"');
  await bob.create('BOB_T', [{ A: 1 }]);
  sql = new Database(db.path);
  await alice.sql.register(sql);
}, 180_000);

afterAll(async () => {
  sql?.close();
  await engine?.close();
  db.cleanup();
});

describe('the apply functions', () => {
  it('insitu_eval and insitu_table_eval answer OUT_FMT JSON in VALUE, directly in a SELECT', () => {
    const built = sql.prepare(`SELECT VALUE FROM insitu_table_eval('IRIS', '{}', 'JSON', 'build_model')`).pluck().get() as string;
    expect(JSON.parse(built)).toEqual(['setosa', 'versicolor', 'virginica'].map((s) => ({ SPECIES: s, MEAN: expect.closeTo(MEANS[s]!, 9) })));
    const v = sql.prepare(`SELECT VALUE FROM insitu_eval('{"i": 3, "scale": 2}', 'JSON', 'sim')`).pluck().get() as string;
    expect(JSON.parse(v)).toEqual([{ I: 3, SQ: 18 }]);
  });

  it('insitu_row_eval with a column spec is a table of those columns and types (a _vt table), joinable with other tables', () => {
    sql.exec(`CREATE VIRTUAL TABLE temp.pred USING insitu_row_eval_vt('SELECT * FROM IRIS', '{"oml_parallel_flag": true}', '{"SPECIES":"TEXT","PRED":"REAL"}', 10, 'regr_predict')`);
    const rows = sql.prepare(`SELECT SPECIES, PRED, typeof(SPECIES) AS ts, typeof(PRED) AS tp FROM pred`).all() as Array<{ SPECIES: string; PRED: number; ts: string; tp: string }>;
    expect(rows).toHaveLength(150);
    expect(rows[0]).toEqual({ SPECIES: 'setosa', PRED: expect.closeTo(MEANS['setosa']!, 9), ts: 'text', tp: 'real' });
    expect(rows[149]!.SPECIES).toBe('virginica');
    const joined = sql
      .prepare(`SELECT i.COLOR, count(*) AS n, round(avg(p.PRED), 3) AS m FROM pred p JOIN SPECIES_INFO i ON i.SPECIES = p.SPECIES GROUP BY i.COLOR ORDER BY i.COLOR`)
      .all();
    const r3 = (x: number): number => Math.round(x * 1000) / 1000;
    expect(joined).toEqual([
      { COLOR: 'blue', n: 50, m: r3(MEANS['setosa']!) },
      { COLOR: 'purple', n: 50, m: r3(MEANS['versicolor']!) },
      { COLOR: 'violet', n: 50, m: r3(MEANS['virginica']!) },
    ]);
    sql.exec('DROP TABLE temp.pred');
  });

  it('insitu_group_eval: JSON keyed by group; a column spec takes the group key column', () => {
    const v = sql.prepare(`SELECT VALUE FROM insitu_group_eval('IRIS', '{"k": 2}', 'JSON', 'SPECIES', 'PETAL_WIDTH DESC', 'group_count')`).pluck().get() as string;
    expect(JSON.parse(v)).toEqual({ setosa: [{ N: 100 }], versicolor: [{ N: 100 }], virginica: [{ N: 100 }] });
    sql.exec(`CREATE VIRTUAL TABLE temp.g USING insitu_group_eval_vt('IRIS', '{}', '{"SPECIES":"VARCHAR2(20)","N":"NUMBER"}', 'SPECIES', NULL, 'group_count')`);
    expect(sql.prepare('SELECT SPECIES, N, typeof(N) AS t FROM g').all()).toEqual([
      { SPECIES: 'setosa', N: 50, t: 'integer' },
      { SPECIES: 'versicolor', N: 50, t: 'integer' },
      { SPECIES: 'virginica', N: 50, t: 'integer' },
    ]);
    sql.exec('DROP TABLE temp.g');
  });

  it('insitu_index_eval runs f(i) for i = 1..TIMES; PNG gives NAME, ID, VALUE, TITLE, IMAGE per partition', () => {
    sql.exec(`CREATE VIRTUAL TABLE temp.s USING insitu_index_eval_vt('{"scale": 10, "oml_parallel_flag": true}', '{"I":"INTEGER","SQ":"INTEGER"}', 4, 'sim')`);
    expect(sql.prepare('SELECT I, SQ FROM s').all()).toEqual([1, 2, 3, 4].map((i) => ({ I: i, SQ: i * i * 10 })));
    sql.exec('DROP TABLE temp.s');
    const png = sql.prepare(`SELECT NAME, ID, VALUE, TITLE, IMAGE FROM insitu_index_eval('{}', 'PNG', 2, 'sim')`).all();
    // A partition that drew nothing gives its row with IMAGE NULL.
    expect(png).toEqual([
      { NAME: '1', ID: null, VALUE: '[{"I":1,"SQ":1}]', TITLE: null, IMAGE: null },
      { NAME: '2', ID: null, VALUE: '[{"I":2,"SQ":4}]', TITLE: null, IMAGE: null },
    ]);
  });

  it("PNG gives one row per figure a partition drew with insitu.image(), with its number, title and bytes", async () => {
    await alice.scripts.create(
      'draw',
      `${PNG_SOURCE}\nimport insitu\ndef draw(i):\n    for k in range(i):\n        insitu.image(tiny_png(k), title=f"fig {i}.{k + 1}")\n    return i\n`,
      { overwrite: true },
    );
    const rows = sql.prepare(`SELECT NAME, ID, VALUE, TITLE, IMAGE FROM insitu_index_eval('{}', 'PNG', 2, 'draw')`).all() as {
      NAME: string;
      ID: number;
      VALUE: string;
      TITLE: string;
      IMAGE: Buffer;
    }[];
    expect(rows.map((r) => [r.NAME, r.ID, r.VALUE, r.TITLE])).toEqual([
      ['1', 1, '1', 'fig 1.1'],
      ['2', 1, '2', 'fig 2.1'],
      ['2', 2, '2', 'fig 2.2'],
    ]);
    for (const r of rows) expect([...r.IMAGE.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it('INSERT ... SELECT from a call commits its rows, and rolls back cleanly when the UDF fails', () => {
    sql.exec(`CREATE VIRTUAL TABLE temp.ok USING insitu_row_eval_vt('SELECT * FROM IRIS WHERE SPECIES = ''setosa''', '{}', '{"SPECIES":"TEXT","PRED":"REAL"}', 25, 'boom')`);
    sql.exec(`CREATE VIRTUAL TABLE temp.bad USING insitu_row_eval_vt('IRIS', '{}', '{"SPECIES":"TEXT","PRED":"REAL"}', 50, 'boom')`);
    const before = count('PREDS');
    sql.transaction(() => sql.prepare('INSERT INTO PREDS SELECT SPECIES, PRED FROM ok').run())();
    expect(count('PREDS')).toBe(before + 50);
    const e = thrown(() => sql.transaction(() => {
      sql.prepare('DELETE FROM PREDS').run();
      sql.prepare('INSERT INTO PREDS SELECT SPECIES, PRED FROM bad').run();
    })());
    expect(e.code).toBe('PYTHON_ERROR');
    expect(e.message).toContain('PYTHON_ERROR');
    expect(e.message).toContain('ValueError: bad chunk');
    expect(e.message).toMatch(/File "<script boom>", line 3/);
    expect(count('PREDS')).toBe(before + 50);
    expect(sql.inTransaction).toBe(false);
    sql.exec('DROP TABLE temp.ok; DROP TABLE temp.bad');
  });
});

describe('rows stream to SQLite as partitions finish', () => {
  beforeAll(async () => {
    // Partition 1 answers at once; the others sleep `s` seconds (or fail at `fail`).
    await alice.scripts.create('lazy', 'import time\n\ndef lazy(i, s=60, fail=0):\n    if i == fail:\n        raise ValueError("late partition failed")\n    if i > 1:\n        time.sleep(s)\n    return {"I": [i, i], "J": [1, 2]}');
  });

  it("the first partition's rows are read before a later partition finishes", () => {
    sql.exec(`CREATE VIRTUAL TABLE temp.lz USING insitu_index_eval_vt('{"s": 4}', '{"I":"INTEGER","J":"INTEGER"}', 2, 'lazy')`);
    try {
      const t0 = Date.now();
      let first = -1;
      const rows: unknown[] = [];
      for (const r of sql.prepare('SELECT I, J FROM lz').raw().iterate()) {
        if (first < 0) first = Date.now() - t0;
        rows.push(r);
      }
      const total = Date.now() - t0;
      expect(rows).toEqual([[1, 1], [1, 2], [2, 1], [2, 2]]);
      expect(total).toBeGreaterThanOrEqual(4_000);
      // The sleep of partition 2 had not ended when partition 1's first row reached the statement.
      expect(first).toBeLessThan(total - 3_000);
    } finally {
      sql.exec('DROP TABLE temp.lz');
    }
  });

  it('a statement that stops reading (LIMIT) cancels the rest of the call, and the engine serves the next call at once', async () => {
    sql.exec(`CREATE VIRTUAL TABLE temp.lz USING insitu_index_eval_vt('{"oml_parallel_flag": true}', '{"I":"INTEGER","J":"INTEGER"}', 6, 'lazy')`);
    try {
      const t0 = Date.now();
      expect(sql.prepare('SELECT I, J FROM lz LIMIT 1').raw().all()).toEqual([[1, 1]]);
      expect(Date.now() - t0).toBeLessThan(20_000);
      // The call is cancelled once this thread is back in its event loop; its sleeping partitions stop.
      await new Promise((resolve) => setImmediate(resolve));
      const t1 = Date.now();
      expect(sql.prepare(`SELECT VALUE FROM insitu_eval('{"i": 2}', 'JSON', 'sim')`).pluck().get()).toBe('[{"I":2,"SQ":4}]');
      expect(Date.now() - t1).toBeLessThan(30_000);
    } finally {
      sql.exec('DROP TABLE temp.lz');
    }
  });

  it('a late partition that fails after rows were read fails the statement, and INSERT ... SELECT leaves nothing', () => {
    sql.exec(`CREATE VIRTUAL TABLE temp.lz USING insitu_index_eval_vt('{"s": 1, "fail": 3}', '{"I":"INTEGER","J":"INTEGER"}', 3, 'lazy')`);
    try {
      const read: unknown[] = [];
      const e = thrown(() => {
        for (const r of sql.prepare('SELECT I, J FROM lz').raw().iterate()) read.push(r);
      });
      expect(read).toEqual([[1, 1], [1, 2], [2, 1], [2, 2]]);
      expect(e.code).toBe('PYTHON_ERROR');
      expect(e.message).toContain('ValueError: late partition failed');
      expect(e.message).toMatch(/File "<script lazy>", line 5/);
      const before = count('PREDS');
      expect(thrown(() => sql.prepare(`INSERT INTO PREDS SELECT 'lz', I FROM lz`).run()).code).toBe('PYTHON_ERROR');
      expect(count('PREDS')).toBe(before);
      expect(sql.inTransaction).toBe(false);
    } finally {
      sql.exec('DROP TABLE temp.lz');
    }
  });
});

describe('bad input fails as an SQLite error with the insitu code, and changes nothing', () => {
  it('bad PAR_LST, OUT_FMT, column specs, inputs and scripts', () => {
    const cases: Array<[string, string, RegExp]> = [
      [`SELECT * FROM insitu_eval('{not json', 'JSON', 'sim')`, 'BAD_INPUT', /PAR_LST must be a JSON object/],
      [`SELECT * FROM insitu_eval('[1]', 'JSON', 'sim')`, 'BAD_INPUT', /PAR_LST must be a JSON object/],
      [`SELECT * FROM insitu_eval('{"oml_bogus": 1}', 'JSON', 'sim')`, 'BAD_INPUT', /unknown control oml_bogus/],
      [`SELECT * FROM insitu_eval('{}', 'YAML', 'sim')`, 'BAD_INPUT', /OUT_FMT/],
      [`SELECT * FROM insitu_eval('{}', '{"I":"INTEGER"}', 'sim')`, 'BAD_INPUT', /CREATE VIRTUAL TABLE temp\.t USING insitu_eval_vt/],
      [`SELECT * FROM insitu_eval('{}', 'JSON', 'no_such_script')`, 'SCRIPT_NOT_FOUND', /no_such_script/],
      [`SELECT * FROM insitu_table_eval('DELETE FROM IRIS', '{}', 'JSON', 'build_model')`, 'BAD_INPUT', /./],
      [`SELECT * FROM insitu_table_eval('SELECT * FROM IRIS; DELETE FROM IRIS', '{}', 'JSON', 'build_model')`, 'BAD_INPUT', /./],
      [`SELECT * FROM insitu_table_eval('SELECT * FROM insitu_engine_scripts', '{}', 'JSON', 'build_model')`, 'BAD_INPUT', /engine tables/],
      [`SELECT * FROM insitu_table_eval('NO_TABLE', '{}', 'JSON', 'build_model')`, 'TABLE_NOT_FOUND', /NO_TABLE/],
      [`SELECT * FROM insitu_row_eval('IRIS', '{}', 'JSON', 0, 'regr_predict')`, 'BAD_INPUT', /ROW_NUM/],
    ];
    for (const [statement, code, message] of cases) {
      const e = thrown(() => sql.prepare(statement).all());
      expect(e.code, statement).toBe(code);
      expect(e.message, statement).toContain(code);
      expect(e.message, statement).toMatch(message);
    }
    expect(count('IRIS')).toBe(150);
    for (const [spec, message] of [
      ['{"A":"FANCY"}', /OUT_FMT column A has type "FANCY"/],
      ['{"A":"TEXT","a":"TEXT"}', /names column a twice/],
      ['{"A"', /OUT_FMT is neither/],
    ] as const) {
      const e = thrown(() => sql.exec(`CREATE VIRTUAL TABLE temp.x USING insitu_eval_vt('{}', '${spec}', 'texty')`));
      expect(e.code).toBe('BAD_INPUT');
      expect(e.message).toMatch(message);
    }
    expect(sql.prepare(`SELECT count(*) FROM temp.sqlite_schema`).pluck().get()).toBe(0);
    // A value that does not convert names its column.
    sql.exec(`CREATE VIRTUAL TABLE temp.t USING insitu_eval_vt('{}', '{"N":"REAL"}', 'texty')`);
    const e = thrown(() => sql.prepare('SELECT * FROM t').all());
    expect(e.code).toBe('BAD_RESULT');
    expect(e.message).toMatch(/OUT_FMT column N is REAL but result row 1 has "not a number"/);
    sql.exec('DROP TABLE temp.t');
    // Virtual tables of calls live in temp only: nothing is written into the engine's file.
    expect(thrown(() => sql.exec(`CREATE VIRTUAL TABLE main.t USING insitu_eval_vt('{}', 'JSON', 'texty')`)).code).toBe('BAD_INPUT');
  });

  it('the functions cannot be used by views or triggers (which would run them as whoever reads or writes)', () => {
    sql.exec(`CREATE VIEW main.v AS SELECT * FROM insitu_eval('{}', 'JSON', 'texty')`);
    try {
      expect(() => sql.prepare('SELECT * FROM v').all()).toThrow(/unsafe use of virtual table/);
    } finally {
      sql.exec('DROP VIEW main.v');
    }
  });
});

describe('privileges: everything runs as the session user', () => {
  it("another user's private script and table are invisible, from the functions and from the catalog", () => {
    const e = thrown(() => sql.prepare(`SELECT * FROM insitu_eval('{}', 'JSON', 'bob_private', 'bob')`).all());
    expect(e.code).toBe('SCRIPT_NOT_FOUND');
    const missing = thrown(() => sql.prepare(`SELECT * FROM insitu_eval('{}', 'JSON', 'no_such', 'bob')`).all());
    expect(e.message.replace('bob_private', 'X')).toBe(missing.message.replace('no_such', 'X'));
    expect(thrown(() => sql.prepare(`SELECT * FROM insitu_table_eval('BOB_T', '{}', 'JSON', 'build_model')`).all()).code).toBe('TABLE_NOT_FOUND');
    const names = sql.prepare('SELECT NAME FROM insitu_scripts()').pluck().all();
    expect(names).toContain('regr_predict');
    expect(names).not.toContain('bob_private');
  });

  it('a grant makes the script visible and runnable as { name, owner }', async () => {
    await bob.grant({ script: 'bob_private', to: 'alice' });
    expect(sql.prepare(`SELECT VALUE FROM insitu_eval('{}', 'JSON', 'bob_private', 'bob')`).pluck().get()).toBe('"secret"');
    expect(sql.prepare(`SELECT TYPE, OWNER, NAME, GRANTEE FROM insitu_grants()`).all()).toContainEqual({ TYPE: 'pyqscript', OWNER: 'bob', NAME: 'bob_private', GRANTEE: 'alice' });
    await bob.revoke({ script: 'bob_private', to: 'alice' });
    expect(thrown(() => sql.prepare(`SELECT * FROM insitu_eval('{}', 'JSON', 'bob_private', 'bob')`).all()).code).toBe('SCRIPT_NOT_FOUND');
  });

  it('the catalog shows datastores and their contents', () => {
    expect(sql.prepare(`SELECT NAME, OWNER, NOBJ FROM insitu_datastores()`).all()).toEqual([{ NAME: 'ds_iris', OWNER: 'alice', NOBJ: 1 }]);
    expect(sql.prepare(`SELECT OBJNAME, CLASS, LENGTH FROM insitu_datastore_contents('ds_iris')`).all()).toEqual([{ OBJNAME: 'model', CLASS: 'dict', LENGTH: 3 }]);
    expect(thrown(() => sql.prepare(`SELECT * FROM insitu_datastore_contents('nope')`).all()).code).toBe('DATASTORE_NOT_FOUND');
  });
});

describe('jobs, timeouts and locks', () => {
  it('oml_async_flag answers a job id; insitu_job_status, insitu_job_result and insitu_jobs() read it', async () => {
    const id = sql.prepare(`SELECT VALUE FROM insitu_row_eval('IRIS', '{"oml_async_flag": true}', '', 50, 'regr_predict')`).pluck().get() as string;
    expect(id).toMatch(/\S/);
    await alice.jobs.wait(id, { timeoutMs: 60_000 });
    expect(sql.prepare('SELECT JOB_ID, STATE, STATUS, ERROR_MESSAGE FROM insitu_job_status(?)').get(id)).toEqual({ JOB_ID: id, STATE: 'succeeded', STATUS: 'job succeeded', ERROR_MESSAGE: null });
    const v = JSON.parse(sql.prepare(`SELECT VALUE FROM insitu_job_result(?, 'JSON')`).pluck().get(id) as string) as unknown[];
    expect(v).toHaveLength(150);
    sql.exec(`CREATE VIRTUAL TABLE temp.jr USING insitu_job_result_vt('${id}', '{"PRED":"REAL"}')`);
    expect(sql.prepare('SELECT count(*) FROM jr').pluck().get()).toBe(150);
    sql.exec('DROP TABLE temp.jr');
    expect(sql.prepare('SELECT JOB_ID, KIND FROM insitu_jobs()').all()).toContainEqual({ JOB_ID: id, KIND: 'rowApply' });
    // Another user's job is not there for bob.
    const bobSql = await bob.sql.register(new Database(db.path));
    try {
      expect(thrown(() => bobSql.prepare('SELECT * FROM insitu_job_status(?)').all(id)).code).toBe('JOB_NOT_FOUND');
      expect(bobSql.prepare('SELECT count(*) FROM insitu_jobs()').pluck().get()).toBe(0);
    } finally {
      bobSql.close();
    }
  });

  it('a call past its timeout fails with TIMEOUT, and the engine keeps serving', () => {
    const t0 = Date.now();
    const e = thrown(() => sql.prepare(`SELECT * FROM insitu_eval('{"timeout": 1}', 'JSON', 'nap')`).all());
    expect(e.code).toBe('TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(sql.prepare(`SELECT VALUE FROM insitu_eval('{"i": 2}', 'JSON', 'sim')`).pluck().get()).toBe('[{"I":2,"SQ":4}]');
  });

  it('no deadlock when the calling connection holds the write lock on the table the call reads', () => {
    sql.exec('BEGIN IMMEDIATE');
    try {
      sql.prepare(`INSERT INTO PREDS VALUES ('pending', 9)`).run();
      // The call reads committed data on the host engine's own connections (WAL): the pending row is not in it.
      const v = JSON.parse(sql.prepare(`SELECT VALUE FROM insitu_table_eval('SELECT * FROM PREDS WHERE SPECIES = ''pending''', '{}', 'JSON', 'group_count')`).pluck().get() as string);
      expect(v).toEqual([{ N: 0 }]);
    } finally {
      sql.exec('ROLLBACK');
    }
  });

  it('register() refuses a connection to another file (its INPUT would name tables the calls do not read)', async () => {
    const other = new Database(':memory:');
    try {
      await expect(alice.sql.register(other)).rejects.toMatchObject({ code: 'BAD_INPUT' });
    } finally {
      other.close();
    }
  });

  it('register() without a connection opens one on the engine file', async () => {
    const own = (await alice.sql.register()) as unknown as Database.Database;
    expect(own.prepare(`SELECT VALUE FROM insitu_eval('{"i": 5}', 'JSON', 'sim')`).pluck().get()).toBe('[{"I":5,"SQ":25}]');
    expect(own.prepare('SELECT count(*) FROM insitu_schedule_runs()').pluck().get()).toBe(0);
  });
});
