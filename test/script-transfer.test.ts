import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, MANIFEST_FILE, type Engine, type Session } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

// scripts.export() / scripts.import(): files on disk, validated like create, all or nothing.
let engine: Engine;
let alice: Session;
let bob: Session;
const db = tempDatabase();
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'insitu-scripts-'));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 1 });
  alice = engine.session({ user: 'alice' });
  bob = engine.session({ user: 'bob' });
  await alice.scripts.create('double', 'def double(x):\n    return 2 * x\n', { description: 'twice x' });
  await alice.scripts.create('shared', 'def shared():\n    return "g"\n', { global: true, description: 'for all' });
  await alice.scripts.create('secret', 'def secret():\n    return 42\n');
});
afterAll(async () => {
  await engine?.close();
  db.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const names = async (s: Session, type: 'user' | 'global' | 'all' = 'all') => (await s.scripts.list({ type })).map((x) => `${x.owner}:${x.name}:${x.global}`);

describe('scripts.export', () => {
  it('writes one .py per script and a manifest; by default your private scripts', async () => {
    const dir = tmp();
    const out = await alice.scripts.export({ dir });
    expect(out.map((s) => s.name)).toEqual(['double', 'secret']);
    expect(readdirSync(dir).sort()).toEqual(['double.py', MANIFEST_FILE, 'secret.py'].sort());
    expect(readFileSync(join(dir, 'double.py'), 'utf8')).toBe('def double(x):\n    return 2 * x\n');
    expect(JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8'))).toEqual({
      version: 1,
      scripts: [
        { name: 'double', owner: 'alice', global: false, description: 'twice x', file: 'double.py' },
        { name: 'secret', owner: 'alice', global: false, description: '', file: 'secret.py' },
      ],
    });
  });

  it('exports named scripts as load finds them (global ones too), and only those you can see', async () => {
    const dir = tmp();
    await bob.scripts.export({ dir, names: ['shared'] });
    expect(JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')).scripts).toEqual([
      { name: 'shared', owner: 'alice', global: true, description: 'for all', file: 'shared.py' },
    ]);
    const other = tmp();
    await rejectsWith(bob.scripts.export({ dir: other, names: ['shared', 'secret'] }), 'SCRIPT_NOT_FOUND');
    expect(readdirSync(other)).toEqual([]);
  });
});

describe('scripts.import', () => {
  it("round-trips into another user's repository: they own the copies, which run", async () => {
    const dir = tmp();
    await alice.scripts.export({ dir, names: ['double', 'secret'] });
    const imported = await bob.scripts.import({ dir });
    expect(imported.map((s) => [s.name, s.owner, s.global, s.description])).toEqual([
      ['double', 'bob', false, 'twice x'],
      ['secret', 'bob', false, ''],
    ]);
    expect((await bob.doEval('double', { args: { x: 21 } })).value).toBe(42);
    await rejectsWith(bob.scripts.import({ dir }), 'ALREADY_EXISTS');
    await bob.scripts.import({ dir, overwrite: true });
    expect((await names(bob, 'user')).sort()).toEqual(['bob:double:false', 'bob:secret:false']);
  });

  it('is all or nothing: one script that does not compile imports none', async () => {
    const dir = tmp();
    await alice.scripts.export({ dir, names: ['double', 'secret'] });
    writeFileSync(join(dir, 'secret.py'), 'def secret(:\n');
    const carol = engine.session({ user: 'carol' });
    const e = await rejectsWith(carol.scripts.import({ dir }), 'BAD_INPUT');
    expect(e.message).toContain('script secret does not compile');
    expect(await names(carol, 'user')).toEqual([]);
  });

  it('is all or nothing when a later script exists: the earlier ones are not stored either', async () => {
    const dir = tmp();
    await alice.scripts.export({ dir, names: ['double', 'secret'] });
    const dave = engine.session({ user: 'dave' });
    await dave.scripts.create('secret', 'def secret():\n    return 0\n');
    await rejectsWith(dave.scripts.import({ dir }), 'ALREADY_EXISTS');
    expect(await names(dave, 'user')).toEqual(['dave:secret:false']);
    expect((await dave.doEval('secret')).value).toBe(0);
  });

  it("refuses to replace another user's global script, as create does", async () => {
    const dir = tmp();
    await alice.scripts.export({ dir, names: ['shared'] });
    const e = await rejectsWith(bob.scripts.import({ dir, overwrite: true }), 'PRIVILEGE');
    expect(e.message).toContain('global script shared belongs to alice');
    expect((await bob.doEval('shared')).value).toBe('g');
    // Its owner may.
    await alice.scripts.import({ dir, overwrite: true });
  });

  it('refuses malformed directories with BAD_INPUT naming the problem, storing nothing', async () => {
    const erin = engine.session({ user: 'erin' });
    const dir = tmp();
    await rejectsWith(erin.scripts.import({ dir }), 'BAD_INPUT');
    const cases: [unknown, RegExp][] = [
      ['not json', /not valid JSON/],
      [{ version: 2, scripts: [] }, /must be \{ "version": 1/],
      [{ version: 1, scripts: [{ name: 'x', owner: 'a', global: false, description: '', file: '../etc/passwd' }] }, /plain .py file name/],
      [{ version: 1, scripts: [{ name: 'x', owner: 'a', global: false, description: '', file: '/abs/x.py' }] }, /plain .py file name/],
      [{ version: 1, scripts: [{ name: 'x;drop', owner: 'a', global: false, description: '', file: 'x.py' }] }, /not valid/],
      [{ version: 1, scripts: [{ name: 'x', owner: 'a', global: 'no', description: '', file: 'x.py' }] }, /global must be true or false/],
      [{ version: 1, scripts: [{ name: 'nofile', owner: 'a', global: false, description: '', file: 'nofile.py' }] }, /nofile.py \(script nofile\) cannot be read/],
      [
        {
          version: 1,
          scripts: [
            { name: 'x', owner: 'a', global: false, description: '', file: 'x.py' },
            { name: 'x', owner: 'b', global: false, description: '', file: 'x.py' },
          ],
        },
        /twice/,
      ],
    ];
    writeFileSync(join(dir, 'x.py'), 'def x():\n    return 1\n');
    for (const [manifest, message] of cases) {
      writeFileSync(join(dir, MANIFEST_FILE), typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
      const e = await rejectsWith(erin.scripts.import({ dir }), 'BAD_INPUT');
      expect(e.message).toMatch(message);
    }
    await rejectsWith(erin.scripts.import({} as never), 'BAD_INPUT');
    expect(await names(erin, 'user')).toEqual([]);
    expect(existsSync(join(dir, '..', 'etc'))).toBe(false);
  });
});
