import { tableFromArrays, type Table } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { GROUP_PACK_ROWS, groupPacks } from '../dist/group-packs.js';
import type { Partition } from '../dist/partition.js';

/** Engine-read group partitions as the partitioner yields them: one per group, in key order. */
async function* groupsOf(tables: readonly Table[]): AsyncGenerator<Partition> {
  for (const data of tables) yield { key: { k: Number(data.getChild('k')!.get(0)) }, input: { kind: 'data', data, inputType: 'auto' }, data };
}

function group(k: number, rows: number): Table {
  return tableFromArrays({ k: Int32Array.from({ length: rows }, () => k), v: Float64Array.from({ length: rows }, (_, i) => i) });
}

async function packsOf(tables: readonly Table[]): Promise<{ groups: number; rows: number; keys: number[] }[]> {
  const out = [];
  for await (const p of groupPacks(groupsOf(tables))) {
    const keys = [...new Set(Array.from(p.data.getChild('k')!.toArray() as Int32Array))];
    out.push({ groups: p.groups, rows: p.data.numRows, keys });
  }
  return out;
}

describe('groupPacks', () => {
  it('packs consecutive small groups into one task, whole and in order', async () => {
    const packs = await packsOf(Array.from({ length: 1000 }, (_, k) => group(k, 10)));
    expect(packs).toEqual([{ groups: 1000, rows: 10_000, keys: Array.from({ length: 1000 }, (_, k) => k) }]);
  });

  it('ends a pack at the group that reaches the row bound and never splits a group', async () => {
    const half = GROUP_PACK_ROWS / 2;
    const packs = await packsOf([group(0, half), group(1, half + 1), group(2, 5), group(3, GROUP_PACK_ROWS * 2), group(4, 1)]);
    expect(packs).toEqual([
      { groups: 2, rows: GROUP_PACK_ROWS + 1, keys: [0, 1] },
      { groups: 2, rows: 5 + GROUP_PACK_ROWS * 2, keys: [2, 3] },
      { groups: 1, rows: 1, keys: [4] },
    ]);
  });

  it('starts a new pack where the column types change', async () => {
    const text = tableFromArrays({ k: Int32Array.from([2, 2]), v: ['a', 'b'] });
    const packs = await packsOf([group(0, 3), group(1, 3), text, group(3, 3)]);
    expect(packs.map((p) => p.keys)).toEqual([[0, 1], [2], [3]]);
  });
});
