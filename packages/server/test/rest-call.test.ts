import { describe, expect, it } from 'vitest';
import { restCallOf } from '../src/rest-call.js';
import { groupKeyText } from '../src/rest-result.js';

describe('restCallOf', () => {
  it('splits parameters into keyword arguments and oml_ controls', () => {
    const c = restCallOf('row-apply', 'score', undefined, { input: 'select 1', parameters: '{"a": 1, "oml_input_type": "pandas.DataFrame", "oml_na_omit": true, "oml_connect": true}' });
    expect(c.args).toEqual({ a: 1 });
    expect(c.inputType).toBe('pandas');
    expect(c.naOmit).toBe(true);
    expect(c.func).toEqual({ name: 'score' });
    expect(restCallOf('do-eval', 'f', 'bob', { parameters: { b: [1] } })).toMatchObject({ args: { b: [1] }, func: { name: 'f', owner: 'bob' } });
    expect(restCallOf('do-eval', 'f', undefined, { parameters: '  ' }).args).toEqual({});
  });

  it('refuses malformed parameters, unknown controls and controls where they do not apply', () => {
    expect(() => restCallOf('do-eval', 'f', undefined, { parameters: '{' })).toThrow(/parameters must be a JSON object text/);
    expect(() => restCallOf('do-eval', 'f', undefined, { parameters: '"x"' })).toThrow(/JSON object/);
    expect(() => restCallOf('do-eval', 'f', undefined, { parameters: '{"oml_graphics_flag": true}' })).toThrow(/oml_graphics_flag/);
    expect(() => restCallOf('do-eval', 'f', undefined, { parameters: '{"oml_input_type": "default"}' })).toThrow(/not do-eval/);
    expect(() => restCallOf('table-apply', 'f', undefined, { input: 'x', parameters: '{"oml_input_type": "numpy.recarray"}' })).toThrow(/numpy/);
    expect(() => restCallOf('table-apply', 'f', undefined, { input: 'x', parameters: '{"oml_na_omit": "yes"}' })).toThrow(/oml_na_omit/);
    expect(() => restCallOf('do-eval', 'f', undefined, { envName: 'py 3.9!' })).toThrow(/envName must be an environment name/);
    // A well-formed name is the call's environment; whether it exists is checked when the call runs.
    expect(restCallOf('do-eval', 'f', undefined, { envName: 'py39' }).env).toBe('py39');
    expect(restCallOf('do-eval', 'f', undefined, { envName: 'default' }).env).toBeUndefined();
  });

  it('maps service levels and parallel fields to a degree of parallelism', () => {
    const dop = (body: object) => restCallOf('index-apply', 'f', undefined, { times: 3, ...body }).parallel;
    expect(dop({})).toBe(1);
    expect(dop({ parallelFlag: true })).toBe(2);
    expect(dop({ parallelFlag: true, service: 'MEDIUM' })).toBe(4);
    expect(dop({ parallelFlag: true, service: 'HIGH' })).toBe(8);
    expect(dop({ parallel: 6, service: 'MEDIUM' })).toBe(4);
    expect(dop({ parallel: 3, service: 'HIGH' })).toBe(3);
    expect(dop({ parallel: 3, parallelFlag: false })).toBe(1);
  });

  it('reads groupBy and orderBy lists', () => {
    const c = restCallOf('group-apply', 'f', undefined, { input: 'x', groupBy: 'SPECIES, WIDE', orderBy: 'A DESC, b asc,C' });
    expect(c.groupBy).toEqual(['SPECIES', 'WIDE']);
    expect(c.orderBy).toEqual(['-A', 'b', 'C']);
    expect(() => restCallOf('group-apply', 'f', undefined, { input: 'x', groupBy: 'A,,B' })).toThrow(/empty column name/);
  });

  it('is a plain JSON value', () => {
    const c = restCallOf('group-apply', 'f', 'bob', { input: 'select 1', groupBy: 'A', asyncFlag: true, timeout: 1800, graphicsFlag: true, parameters: '{"k": {"n": null}}' });
    expect(JSON.parse(JSON.stringify(c))).toEqual(c);
  });
});

describe('groupKeyText', () => {
  it('writes one key as its text and several as a JSON array text', () => {
    expect(groupKeyText({ SPECIES: 'setosa' })).toBe('setosa');
    expect(groupKeyText({ N: 5n })).toBe('5');
    expect(groupKeyText({ N: null })).toBe('null');
    expect(groupKeyText({ S: 'versicolor', W: 1 })).toBe('["versicolor",1]');
  });
});
