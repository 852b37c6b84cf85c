import { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session, type TableProxy } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

// Column names as pandas and scikit-learn make them, through every API that names columns.
let engine: Engine;
let me: Session;
let iris: TableProxy;
const db = tempDatabase();

const SL = 'sepal length (cm)';
const rowsOf = (v: unknown) => (v as Table).toArray().map((r) => r.toJSON());

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2 });
  me = engine.session({ user: 'alice' });
  iris = await me.create('IRIS_SK', [
    { [SL]: 5.1, 'petal.width': 0.2, 'größe': 1, 'target name': 'setosa', 'say "hi"': 'a' },
    { [SL]: 7.0, 'petal.width': 1.4, 'größe': 2, 'target name': 'versicolor', 'say "hi"': 'b' },
    { [SL]: 6.3, 'petal.width': 2.5, 'größe': 3, 'target name': 'virginica', 'say "hi"': 'c' },
    { [SL]: 4.9, 'petal.width': 0.1, 'größe': 4, 'target name': 'setosa', 'say "hi"': 'd' },
  ]);
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

describe('column names with spaces, dots, parentheses, quotes and non-ASCII', () => {
  it('are created and pulled as given', async () => {
    expect(await iris.columns()).toEqual([SL, 'petal.width', 'größe', 'target name', 'say "hi"']);
    expect((await iris.pull()).numRows).toBe(4);
  });

  it('work in select, orderBy and a where that quotes them', async () => {
    const p = iris.select(['target name', SL]).where('"sepal length (cm)" > ?', 5).orderBy(`-${SL}`);
    expect(rowsOf(await p.pull())).toEqual([
      { 'target name': 'versicolor', [SL]: 7.0 },
      { 'target name': 'virginica', [SL]: 6.3 },
      { 'target name': 'setosa', [SL]: 5.1 },
    ]);
  });

  it('work as groupApply keys and orderBy, in the UDF and in the result table', async () => {
    const src = 'def f(df):\n    return {"widths": [",".join(str(w) for w in df["petal.width"])], "mean (cm)": [sum(df["sepal length (cm)"]) / len(df)]}';
    const r = await me.groupApply(iris, ['target name'], { source: src }, { orderBy: ['-petal.width'], inputType: 'frame', parallel: true });
    expect(rowsOf(r.value)).toEqual([
      { 'target name': 'setosa', widths: '0.2,0.1', 'mean (cm)': 5.0 },
      { 'target name': 'versicolor', widths: '1.4', 'mean (cm)': 7.0 },
      { 'target name': 'virginica', widths: '2.5', 'mean (cm)': 6.3 },
    ]);
    expect(r.partitions[0]!.key).toEqual({ 'target name': 'setosa' });
  });

  it('work through a JSON call value and naOmit', async () => {
    const call = JSON.parse(JSON.stringify({ kind: 'groupApply', data: iris.select(['größe', 'say "hi"']), by: ['say "hi"'], func: { source: 'def f(df):\n    return list(df["größe"])' }, options: { naOmit: true, inputType: 'frame' } }));
    const r = await me.run(call);
    expect(r.value).toEqual([[1], [2], [3], [4]]);
  });

  it('come back from UDF results and can be stored again with create', async () => {
    const r = await me.tableApply(iris, { source: 'def f(df):\n    return {"a b.c (d)": [1, 2], "ñ": ["x", "y"]}' });
    const t = await me.create('BACK', r.value as Table);
    expect(await t.columns()).toEqual(['a b.c (d)', 'ñ']);
  });

  it('written in another case by SQL or a proxy, name the same column, and keep the spelling they were created with', async () => {
    const made = await me.doEval(
      {
        source: [
          'import insitu',
          'def f():',
          '    conn = insitu.connect()',
          '    conn.execute("CREATE TABLE Mixed (Id INTEGER, Grp TEXT, Val INTEGER)")',
          '    for i in range(1, 5):',
          '        conn.execute("INSERT INTO MIXED (ID, grp, VAL) VALUES (?, ?, ?)", [i, "ab"[i % 2], 10 * i])',
          '    return conn.query("SELECT id, \\"VAL\\" AS v FROM mixed WHERE ID > ? ORDER BY Id DESC", [2], input_type="columns")["v"]',
        ].join('\n'),
      },
      { context: 'write' },
    );
    expect(made.value).toEqual([40, 30]);
    const mixed = me.table('MIXED');
    expect(await mixed.columns()).toEqual(['Id', 'Grp', 'Val']);
    expect(await me.query('SELECT Id AS Key, val * 2 AS "twice", Grp FROM mixed').orderBy('KEY').columns()).toEqual(['Key', 'twice', 'Grp']);
    const values = (t: unknown) => (t as Table).toArray().map((r) => Object.values(r.toJSON()));
    expect(values(await mixed.select(['VAL', 'id']).where('"val" > ?', 10).orderBy('-ID').pull())).toEqual([[40, 4], [30, 3], [20, 2]]);
    const groups = await me.groupApply(mixed.orderBy('id'), ['Grp'], { source: 'def f(d):\n    return sum(d["Val"])' });
    expect(groups.value).toEqual([60, 40]);
  });

  it('refuse only unusable names: empty and NUL, changing nothing', async () => {
    await rejectsWith(me.create('BAD1', [{ '': 1 }]), 'BAD_INPUT');
    const e = await rejectsWith(me.create('BAD2', [{ 'a\0b': 1 }]), 'BAD_INPUT');
    expect(e.message).toContain('NUL');
    expect(() => iris.select([''])).toThrow(/1 to 1024 characters/);
    await rejectsWith(me.groupApply(iris, ['x\0'], { source: 'def f(df):\n    return 1' }), 'BAD_INPUT');
    expect(await me.table('IRIS_SK').count()).toBe(4);
    await rejectsWith(me.table('BAD1').count(), 'TABLE_NOT_FOUND');
  });
});
