// An example UDF project: a Python file and its tests, run with vitest through insitu/testing.
import { describe, expect, it } from 'vitest';
import { loadCsv, loadUdf } from 'insitu/testing';

const flowers = loadCsv(new URL('./fixtures/flowers.csv', import.meta.url));

describe('score.py', () => {
  it('scores every flower and prints how many', async () => {
    const score = await loadUdf(new URL('./score.py', import.meta.url));
    const r = await score.table(flowers, { threshold: 5 });
    expect(r.stdout).toBe('scored 5 flowers\n');
    const rows = (r.value as import('apache-arrow').Table).toArray().map((row) => ({ ...row }));
    expect(rows.map((x) => x.LARGE)).toEqual([false, false, true, true, true]);
    expect(rows[0]!.AREA).toBeCloseTo(0.28);
  });

  it('scores chunk by chunk the same', async () => {
    const score = await loadUdf(new URL('./score.py', import.meta.url));
    const r = await score.rows(flowers, { rows: 2 });
    expect(r.partitions.map((p) => p.stdout)).toEqual(['scored 2 flowers\n', 'scored 2 flowers\n', 'scored 1 flowers\n']);
  });

  it('gives the mean petal area per species', async () => {
    const mean = await loadUdf(new URL('./score.py', import.meta.url), { function: 'mean_area' });
    const r = await mean.groups(flowers, 'SPECIES');
    const rows = (r.value as import('apache-arrow').Table).toArray().map((row) => [row.SPECIES, Math.round(row.MEAN_AREA * 100) / 100]);
    expect(rows).toEqual([['setosa', 0.29], ['versicolor', 6.67], ['virginica', 15]]);
  });
});
