import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

let engine: Engine;
const db = tempDatabase();

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 1 });
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
});

describe('script repository', () => {
  it('creates, lists, loads and drops a private script', async () => {
    const alice = engine.session({ user: 'alice' });
    const info = await alice.scripts.create('score', 'def score(df):\n    return len(df)\n', { description: 'counts rows' });
    expect(info).toMatchObject({ name: 'score', owner: 'alice', global: false, description: 'counts rows' });
    expect(info.created).toBeInstanceOf(Date);
    expect((await alice.scripts.list()).map((s) => s.name)).toEqual(['score']);
    const loaded = await alice.scripts.load('score');
    expect(loaded.source).toBe('def score(df):\n    return len(df)\n');
    expect(await alice.scripts.drop('score')).toBe(true);
    await rejectsWith(alice.scripts.load('score'), 'SCRIPT_NOT_FOUND');
    await rejectsWith(alice.scripts.drop('score'), 'SCRIPT_NOT_FOUND');
    expect(await alice.scripts.drop('score', { silent: true })).toBe(false);
  });

  it('refuses to replace an existing script without overwrite and leaves it unchanged', async () => {
    const s = engine.session({ user: 'bob' });
    await s.scripts.create('keep', 'def keep():\n    return "old"');
    await rejectsWith(s.scripts.create('keep', 'def keep():\n    return "new"'), 'ALREADY_EXISTS');
    expect((await s.doEval('keep')).value).toBe('old');
    await s.scripts.create('keep', 'def keep():\n    return "new"', { overwrite: true });
    expect((await s.doEval('keep')).value).toBe('new');
  });

  it('refuses source that does not compile, naming the line, and stores nothing', async () => {
    const s = engine.session({ user: 'carol' });
    const e = await rejectsWith(s.scripts.create('broken', 'def broken(df):\n    x = 1\n    return x +\n'), 'BAD_INPUT');
    expect(e.line).toBe(3);
    expect(e.message).toMatch(/invalid syntax|expected/i);
    expect(await s.scripts.list()).toEqual([]);
  });

  it('needs a top-level def named like the script, or exactly one top-level def', async () => {
    const s = engine.session({ user: 'dave' });
    await rejectsWith(s.scripts.create('nodef', 'x = 1\n'), 'BAD_INPUT');
    await rejectsWith(s.scripts.create('two', 'def a():\n    return 1\ndef b():\n    return 2\n'), 'BAD_INPUT');
    await s.scripts.create('b', 'def a():\n    return 1\ndef b():\n    return 2\n');
    expect((await s.doEval('b')).value).toBe(2);
    await s.scripts.create('anyname', 'import math\ndef helper_only():\n    return math.pi\n');
    expect((await s.doEval('anyname')).value).toBeCloseTo(Math.PI);
  });

  it('refuses bad script names', async () => {
    const s = engine.session({ user: 'erin' });
    for (const bad of ['a"b', 'x;drop', 'two words', 'nul\u0000', 'z'.repeat(200), 'insitu_x', '']) {
      await rejectsWith(s.scripts.create(bad, 'def f():\n    return 1'), 'BAD_INPUT');
    }
  });

  it('keeps private scripts private and global scripts visible to everyone', async () => {
    const owner = engine.session({ user: 'olive' });
    const other = engine.session({ user: 'oscar' });
    await owner.scripts.create('secret', 'def secret():\n    return "olive only"');
    await owner.scripts.create('shared', 'def shared():\n    return "for all"', { global: true });
    await rejectsWith(other.doEval('secret'), 'SCRIPT_NOT_FOUND');
    await rejectsWith(other.scripts.load('secret'), 'SCRIPT_NOT_FOUND');
    await rejectsWith(other.doEval({ name: 'secret', owner: 'olive' }), 'SCRIPT_NOT_FOUND');
    expect((await other.doEval('shared')).value).toBe('for all');
    expect((await other.doEval({ name: 'shared', owner: 'olive' })).value).toBe('for all');
    expect((await other.scripts.list({ type: 'all' })).map((s) => s.name)).toContain('shared');
    expect((await other.scripts.list({ type: 'all' })).map((s) => s.name)).not.toContain('secret');
    expect((await other.scripts.list({ type: 'global', name: 'sha%' })).map((s) => [s.name, s.owner, s.global])).toEqual([
      ['shared', 'olive', true],
    ]);
    expect((await owner.scripts.list({ type: 'user' })).map((s) => s.name)).toEqual(['secret']);
    // A private script shadows a global one of the same name for its owner.
    await other.scripts.create('shared', 'def shared():\n    return "mine"');
    expect((await other.doEval('shared')).value).toBe('mine');
    // Only the creator drops or replaces a global script.
    await rejectsWith(other.scripts.drop('shared', { global: true }), 'PRIVILEGE');
    await rejectsWith(other.scripts.create('shared', 'def shared():\n    return 0', { global: true, overwrite: true }), 'PRIVILEGE');
    await owner.scripts.drop('shared', { global: true });
    expect((await other.doEval('shared')).value).toBe('mine');
  });

  it('keeps scripts across engine restarts on the same file', async () => {
    const s = engine.session({ user: 'pat' });
    await s.scripts.create('persist', 'def persist():\n    return "still here"');
    const second = await createEngine({ database: db.path, workers: 1 });
    try {
      expect((await second.session({ user: 'pat' }).doEval('persist')).value).toBe('still here');
    } finally {
      await second.close();
    }
  });
});
