import { describe, expect, it } from 'vitest';
import { tableFromArrays } from 'apache-arrow';
import { checkApplyCall } from '../dist/apply-call.js';
import { decodeScalar, encodeScalar } from '../dist/json-params.js';
import { decodeResult, encodeResult } from '../dist/result-codec.js';
import { InsituError } from '../dist/errors.js';
import type { ApplyResult } from '../dist/result-assembly.js';

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InsituError);
    expect((e as InsituError).code).toBe('BAD_INPUT');
    return (e as Error).message;
  }
  throw new Error('expected BAD_INPUT');
}

describe('ApplyCall as a value', () => {
  const call = {
    kind: 'rowApply',
    data: {
      source: { sql: 'SELECT * FROM T WHERE b = ? AND d < ? AND n > ?', params: [{ $bytes: 'AAH/' }, { $date: '2024-01-02T03:04:05.000Z' }, { $bigint: '9007199254740993' }] },
      select: ['x'],
      where: [{ sql: 'x > ?', params: [1] }],
      orderBy: ['-x'],
      limit: 5,
    },
    func: { name: 'f', owner: 'bob' },
    options: { rows: 2, parallel: true, args: { k: [1, { a: null }] }, positional: [5, ['T1', 'ID']], inputType: 'records', context: 'read', timeoutMs: 1000 },
  };

  it('survives JSON unchanged and is validated unchanged', () => {
    const checked = checkApplyCall(call);
    expect(checked).toEqual(call);
    expect(checkApplyCall(JSON.parse(JSON.stringify(checked)))).toEqual(checked);
  });

  it('names the bad field', () => {
    expect(messageOf(() => checkApplyCall({ ...call, options: { rows: 0 } }))).toMatch(/^call\.options\.rows must be a positive integer/);
    expect(messageOf(() => checkApplyCall({ ...call, options: { rowz: 1 } }))).toMatch(/^call\.options\.rowz is not an apply option/);
    expect(messageOf(() => checkApplyCall({ ...call, kind: 'eval' }))).toMatch(/^call\.kind must be one of/);
    expect(messageOf(() => checkApplyCall({ ...call, data: { source: { table: 'a b' } } }))).toMatch(/call\.data\.source\.table/);
    expect(messageOf(() => checkApplyCall({ ...call, data: { source: { sql: 'DELETE FROM T' } } }))).toMatch(/call\.data\.source\.sql/);
    expect(messageOf(() => checkApplyCall({ ...call, data: { source: { sql: 'SELECT ?', params: [{ $oops: 1 }] } } }))).toMatch(/call\.data\.source\.params\[0\]/);
    expect(messageOf(() => checkApplyCall({ kind: 'doEval', func: 'f', data: call.data }))).toMatch(/call\.data is not taken by doEval/);
    expect(messageOf(() => checkApplyCall({ kind: 'indexApply', func: 'f' }))).toMatch(/call\.times is required/);
    expect(messageOf(() => checkApplyCall({ kind: 'groupApply', func: 'f', data: call.data, by: [] }))).toMatch(/call\.by/);
    expect(messageOf(() => checkApplyCall({ kind: 'doEval', func: { source: 1 } }))).toMatch(/^call\.func must be/);
    expect(messageOf(() => checkApplyCall({ kind: 'doEval', func: 'f', options: { args: { a: 1n } } }))).toMatch(/call\.options\.args\.a is not JSON-able/);
    expect(messageOf(() => checkApplyCall({ kind: 'doEval', func: 'f', extra: 1 }))).toMatch(/^call\.extra is not a field/);
  });

  it('encodes the scalars JSON lacks, once', () => {
    for (const v of [null, true, 1.5, 'x', 12n, new Uint8Array([0, 255]), new Date('2020-01-01T00:00:00Z'), Number.NaN, -Infinity]) {
      expect(decodeScalar(JSON.parse(JSON.stringify(encodeScalar(v))), 'p')).toEqual(v);
    }
  });
});

describe('result serialiser', () => {
  it('round-trips tables, JSON values, bytes, output, images and keys', () => {
    const t1 = tableFromArrays({ a: Int32Array.from([1, 2]), s: ['x', 'y'] });
    const t2 = tableFromArrays({ a: Int32Array.from([3]), s: ['z'] });
    const img = { id: 1, title: 'fig', png: new Uint8Array([137, 80, 78, 71]) };
    const stacked: ApplyResult = {
      value: tableFromArrays({ a: Int32Array.from([1, 2, 3]), s: ['x', 'y', 'z'] }),
      stdout: 'ab',
      stderr: '',
      images: [{ ...img, partition: { chunk: 1, start: 0, rows: 2 } }],
      partitions: [
        { key: { chunk: 1, start: 0, rows: 2 }, value: t1, stdout: 'a', stderr: '', images: [img] },
        { key: { chunk: 2, start: 2, rows: 1 }, value: t2, stdout: 'b', stderr: '', images: [] },
      ],
    };
    const back = decodeResult(encodeResult(stacked));
    expect((back.value as typeof t1).toArray().map((r) => r.toJSON())).toEqual([{ a: 1, s: 'x' }, { a: 2, s: 'y' }, { a: 3, s: 'z' }]);
    expect(back.partitions.map((p) => p.key)).toEqual(stacked.partitions.map((p) => p.key));
    expect([...back.images[0]!.png]).toEqual([...img.png]);
    expect(back.images[0]).toMatchObject({ id: 1, title: 'fig', partition: { chunk: 1, start: 0, rows: 2 } });
    expect(back.partitions[0]!.images[0]).toMatchObject({ id: 1, title: 'fig' });
    expect(back.stdout).toBe('ab');

    const bytes = new Uint8Array([1, 2, 3]);
    const mixed: ApplyResult = {
      value: [{ k: [1, null] }, bytes],
      stdout: 'cut',
      stderr: 'e',
      images: [],
      partitions: [
        { key: { g: 'a', n: 5n, b: new Uint8Array([9]) }, value: { k: [1, null] }, stdout: 'x', stderr: 'e', images: [] },
        { key: 2, value: bytes, stdout: 'y', stderr: '', images: [] },
      ],
    };
    const m = decodeResult(encodeResult(mixed));
    expect(m.value).toEqual([{ k: [1, null] }, bytes]);
    expect(m.stdout).toBe('cut');
    expect(m.partitions[0]!.key).toEqual({ g: 'a', n: 5n, b: new Uint8Array([9]) });
    const single = decodeResult(encodeResult({ value: [1, 2], stdout: '', stderr: '', images: [], partitions: [{ key: null, value: [1, 2], stdout: '', stderr: '', images: [] }] }));
    expect(single.value).toEqual([1, 2]);
  });

  it('refuses bytes that are not a result', () => {
    expect(() => decodeResult(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]))).toThrow(InsituError);
  });
});

describe('naOmit, orderBy, onError and int64 in a call value', () => {
  const base = { kind: 'groupApply', data: { source: { table: 'T' } }, by: ['g'], func: 'f' };

  it('keeps them normalised through JSON', () => {
    const c = checkApplyCall({ ...base, options: { naOmit: true, orderBy: '-x', onError: 'null', int64: 'bigint' } });
    expect(c.options).toEqual({ naOmit: true, orderBy: ['-x'], onError: 'null', int64: 'bigint' });
    expect(checkApplyCall(JSON.parse(JSON.stringify(c)))).toEqual(c);
    // The defaults leave nothing behind.
    expect(checkApplyCall({ ...base, options: { naOmit: false, onError: 'fail' } }).options).toBeUndefined();
  });

  it('refuses them where they do not apply and when malformed, naming the field', () => {
    expect(messageOf(() => checkApplyCall({ kind: 'doEval', func: 'f', options: { naOmit: true } }))).toBe('call.options.naOmit is not taken by doEval (only by tableApply, rowApply, groupApply)');
    expect(messageOf(() => checkApplyCall({ kind: 'tableApply', data: base.data, func: 'f', options: { orderBy: ['x'] } }))).toContain('orderBy is not taken by tableApply');
    expect(messageOf(() => checkApplyCall({ kind: 'doEval', func: 'f', options: { onError: 'skip' } }))).toContain('onError is not taken by doEval');
    expect(messageOf(() => checkApplyCall({ ...base, options: { onError: 'ignore' } }))).toBe("call.options.onError must be one of 'fail', 'skip', 'null', got \"ignore\"");
    expect(messageOf(() => checkApplyCall({ ...base, options: { orderBy: [] } }))).toContain('orderBy must be a non-empty array');
    expect(messageOf(() => checkApplyCall({ ...base, options: { orderBy: ['a\0b'] } }))).toContain('NUL');
    expect(messageOf(() => checkApplyCall({ ...base, options: { naOmit: 1 } }))).toContain('naOmit must be true or false');
    expect(messageOf(() => checkApplyCall({ ...base, options: { int64: 'string' } }))).toContain("int64 must be 'number' or 'bigint'");
  });
});

describe('failed partitions and bytes inside values in the result serialiser', () => {
  it('round-trip', () => {
    const error = new InsituError('PYTHON_ERROR', 'ValueError: x', { pythonType: 'ValueError', line: 3, partition: { g: 2n } });
    const r: ApplyResult = {
      value: [[new Uint8Array([1, 2])], null],
      stdout: '',
      stderr: '',
      images: [],
      partitions: [
        { key: { g: 1n }, value: [new Uint8Array([1, 2])], stdout: '', stderr: '', images: [] },
        { key: { g: 2n }, value: null, stdout: '', stderr: '', images: [] },
      ],
      failed: [{ key: { g: 2n }, error }],
    };
    const back = decodeResult(encodeResult(r));
    expect(back.value).toEqual(r.value);
    expect(back.failed![0]!.key).toEqual({ g: 2n });
    expect(back.failed![0]!.error).toBeInstanceOf(InsituError);
    expect(back.failed![0]!.error.toJSON()).toEqual(error.toJSON());
  });
});
