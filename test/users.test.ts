import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Session } from 'insitu';
import { rejectsWith, tempDatabase } from './helpers.js';

// One engine per user mode, each on its own real SQLite file.
let open: Engine;
let registered: Engine;
const openDb = tempDatabase('open.db');
const registeredDb = tempDatabase('registered.db');

beforeAll(async () => {
  [open, registered] = await Promise.all([
    createEngine({ database: openDb.path, workers: 1 }),
    createEngine({ database: registeredDb.path, workers: 1, users: 'registered' }),
  ]);
});
afterAll(async () => {
  await Promise.all([open?.close(), registered?.close()]);
  openDb.cleanup();
  registeredDb.cleanup();
});

const names = async (e: Engine) => (await e.users.list()).map((u) => u.name);
const SCRIPT = (name: string, says: string) => `def ${name}():\n    return ${JSON.stringify(says)}`;

describe('engine.users', () => {
  it('creates, lists and drops users; duplicates are ALREADY_EXISTS', async () => {
    const before = Date.now();
    const made = await open.users.create('analyst', { description: 'reads reports' });
    expect(made.name).toBe('analyst');
    const listed = (await open.users.list()).find((u) => u.name === 'analyst');
    expect(listed?.description).toBe('reads reports');
    expect(listed?.created).toBeInstanceOf(Date);
    expect(listed!.created.getTime()).toBeGreaterThanOrEqual(before - 1000);
    await open.users.create('auditor');
    expect((await open.users.list()).find((u) => u.name === 'auditor')?.description).toBe('');

    const dup = await rejectsWith(open.users.create('analyst'), 'ALREADY_EXISTS');
    expect(dup.message).toContain('analyst');
    // Names are case-sensitive, as owners are.
    await open.users.create('Analyst');
    expect(await names(open)).toEqual(expect.arrayContaining(['analyst', 'Analyst', 'auditor']));

    const dropped = await open.users.drop('analyst');
    expect(dropped).toEqual({ removed: { scripts: 0, datastores: 0, tables: 0, grants: 0 }, revoked: 0 });
    expect(await names(open)).not.toContain('analyst');
    const gone = await rejectsWith(open.users.drop('analyst'), 'BAD_INPUT');
    expect(gone.message).toContain('analyst');
  });

  it('refuses bad and reserved names with BAD_INPUT, in users.create, users.drop and sessions', async () => {
    const before = await names(open);
    const bad: unknown[] = ['', 'tab\there', 'new\nline', 'x'.repeat(129), 'PUBLIC', 'public', 'Public', 42, null];
    for (const name of bad) {
      await rejectsWith(open.users.create(name as string), 'BAD_INPUT');
      // (A null user is the default user, as an omitted one.)
      if (name !== null) await rejectsWith(() => open.session({ user: name as string }), 'BAD_INPUT');
    }
    await rejectsWith(open.users.drop('PUBLIC'), 'BAD_INPUT');
    await rejectsWith(open.users.create('okname', { description: 7 as unknown as string }), 'BAD_INPUT');
    expect(await names(open)).toEqual(before);
    // Names are not SQL: e-mail addresses, dashes, quotes and other scripts are fine.
    for (const ok of ['bob@example.com', 'a-b', "x'; DROP TABLE insitu_users; --", 'é']) await open.users.create(ok);
    expect(await names(open)).toEqual(expect.arrayContaining(['bob@example.com', 'a-b', "x'; DROP TABLE insitu_users; --", 'é']));
    for (const ok of ['bob@example.com', 'a-b', "x'; DROP TABLE insitu_users; --", 'é']) await open.users.drop(ok);
  });

  it('refuses to drop a user who owns objects unless cascade, which removes them all at once', async () => {
    const owner = open.session({ user: 'owner1' });
    const bob = open.session({ user: 'bob' });
    await owner.scripts.create('shared', SCRIPT('shared', 'from owner1'));
    await owner.scripts.create('everyone', SCRIPT('everyone', 'global of owner1'), { global: true });
    await owner.datastores.save('model', { w: [1, 2] }, { grantable: true });
    await owner.grant({ script: 'shared', to: 'bob' });
    await owner.grant({ datastore: 'model', to: 'bob' });
    await owner.create('OWNED1', [{ a: 1 }]);
    await owner.grant({ table: 'OWNED1', to: 'bob' });
    expect((await bob.doEval({ name: 'shared', owner: 'owner1' })).value).toBe('from owner1');

    const refused = await rejectsWith(open.users.drop('owner1'), 'BAD_INPUT');
    expect(refused.message).toMatch(/owner1 owns 2 scripts, 1 datastore, 1 table, 3 grants/);
    expect(refused.message).toContain('cascade');
    // Nothing was removed.
    expect(await names(open)).toContain('owner1');
    expect((await bob.doEval({ name: 'shared', owner: 'owner1' })).value).toBe('from owner1');
    expect((await bob.doEval('everyone')).value).toBe('global of owner1');
    expect(await bob.datastores.load('model', { owner: 'owner1' })).toEqual({ w: [1, 2] });
    expect(await bob.table('OWNED1').count()).toBe(1);

    const dropped = await open.users.drop('owner1', { cascade: true });
    expect(dropped.removed).toEqual({ scripts: 2, datastores: 1, tables: 1, grants: 3 });
    await rejectsWith(bob.table('OWNED1').count(), 'TABLE_NOT_FOUND');
    expect(await names(open)).not.toContain('owner1');
    await rejectsWith(bob.doEval({ name: 'shared', owner: 'owner1' }), 'SCRIPT_NOT_FOUND');
    await rejectsWith(bob.doEval('everyone'), 'SCRIPT_NOT_FOUND');
    await rejectsWith(bob.datastores.load('model', { owner: 'owner1' }), 'DATASTORE_NOT_FOUND');
    expect(await bob.scripts.list({ type: 'granted' })).toEqual([]);
    expect(await bob.datastores.list({ type: 'granted' })).toEqual([]);

    // A new user of that name starts with nothing.
    await open.users.create('owner1');
    const again = open.session({ user: 'owner1' });
    expect(await again.scripts.list({ type: 'all' })).toEqual([]);
    expect(await again.datastores.list()).toEqual([]);
    await rejectsWith(again.table('OWNED1').count(), 'TABLE_NOT_FOUND');
  });

  it('revokes the grants a dropped user held, so a later user of that name gets none of them', async () => {
    const alice = open.session({ user: 'alice' });
    await alice.scripts.create('secret', SCRIPT('secret', 'alice only'));
    await open.users.create('temp');
    await alice.grant({ script: 'secret', to: 'temp' });
    await alice.create('ALICE_T', [{ a: 1 }]);
    await alice.grant({ table: 'ALICE_T', to: 'temp' });
    expect((await open.session({ user: 'temp' }).doEval({ name: 'secret', owner: 'alice' })).value).toBe('alice only');
    expect(await open.session({ user: 'temp' }).table('ALICE_T').count()).toBe(1);
    // temp owns nothing, so no cascade is needed; the grants it held go with it.
    expect(await open.users.drop('temp')).toEqual({ removed: { scripts: 0, datastores: 0, tables: 0, grants: 0 }, revoked: 2 });
    expect((await alice.scripts.list({ type: 'grant' })).map((s) => s.grantee)).toEqual([]);
    await open.users.create('temp');
    await rejectsWith(open.session({ user: 'temp' }).doEval({ name: 'secret', owner: 'alice' }), 'SCRIPT_NOT_FOUND');
    await rejectsWith(open.session({ user: 'temp' }).table('ALICE_T').count(), 'TABLE_NOT_FOUND');
  });
});

describe("users: 'open' (default)", () => {
  it('registers a user when its first session is made, so it can be granted to before it does anything', async () => {
    expect(await names(open)).not.toContain('newcomer');
    const alice = open.session({ user: 'alice' });
    await alice.scripts.create('welcome', SCRIPT('welcome', 'hello'));
    open.session({ user: 'newcomer' });
    await alice.grant({ script: 'welcome', to: 'newcomer' });
    expect(await names(open)).toContain('newcomer');
    expect((await open.session({ user: 'newcomer' }).doEval({ name: 'welcome', owner: 'alice' })).value).toBe('hello');
    // The default session user is registered the same way.
    await open.session().scripts.list();
    expect(await names(open)).toContain('default');
  });

  it('refuses grants to unknown users with BAD_INPUT naming them, and grants nothing; PUBLIC stays valid', async () => {
    const alice = open.session({ user: 'alice' });
    await alice.scripts.create('gift', SCRIPT('gift', 'a gift'));
    await alice.datastores.save('box', { v: 1 }, { grantable: true });
    for (const g of [{ script: 'gift', to: 'ghost' }, { datastore: 'box', to: 'ghost' }] as const) {
      const e = await rejectsWith(alice.grant(g), 'BAD_INPUT');
      expect(e.message).toContain('ghost');
    }
    for (const to of ['never-seen', 'Alice', 'insitu_x']) await rejectsWith(alice.grant({ script: 'gift', to }), 'BAD_INPUT');
    expect(await alice.scripts.list({ type: 'grant', name: 'gift' })).toEqual([]);
    expect(await alice.datastores.list({ type: 'grant', name: 'box' })).toEqual([]);
    // Had the grant been stored, a user created later under that name would hold it.
    await open.users.create('ghost');
    const ghost = open.session({ user: 'ghost' });
    await rejectsWith(ghost.doEval({ name: 'gift', owner: 'alice' }), 'SCRIPT_NOT_FOUND');
    // Now ghost exists: granting works. So does PUBLIC, in any case.
    await alice.grant({ script: 'gift', to: 'ghost' });
    expect((await ghost.doEval({ name: 'gift', owner: 'alice' })).value).toBe('a gift');
    await alice.grant({ datastore: 'box', to: 'public' });
    expect(await open.session({ user: 'passerby' }).datastores.load('box', { owner: 'alice' })).toEqual({ v: 1 });
    // Someone who is not the owner learns nothing about users: the object answers first.
    await rejectsWith(ghost.grant({ script: 'gift', to: 'nobody_here' }), 'PRIVILEGE');
  });
});

describe("users: 'registered'", () => {
  let admin: Session;
  beforeAll(async () => {
    await registered.users.create('admin');
    admin = registered.session({ user: 'admin' });
    await admin.create('FACTS', [{ k: 1 }, { k: 2 }]);
  });

  it('refuses every call of a session of an unknown user with PRIVILEGE, and it changes nothing', async () => {
    const stranger = registered.session({ user: 'stranger' });
    const e = await rejectsWith(stranger.doEval({ source: 'def f():\n    return 1' }), 'PRIVILEGE');
    expect(e.message).toContain('stranger');
    await rejectsWith(stranger.scripts.create('s', SCRIPT('s', 'x')), 'PRIVILEGE');
    await rejectsWith(stranger.scripts.list(), 'PRIVILEGE');
    await rejectsWith(stranger.datastores.save('loot', { v: 1 }), 'PRIVILEGE');
    await rejectsWith(stranger.create('PLANTED', [{ a: 1 }]), 'PRIVILEGE');
    await rejectsWith(stranger.table('FACTS').pull(), 'PRIVILEGE');
    await rejectsWith(stranger.table('FACTS').count(), 'PRIVILEGE');
    await rejectsWith(stranger.query('select 1 as one').schema(), 'PRIVILEGE');
    await rejectsWith(stranger.rowApply(admin.table('FACTS'), { source: 'def f(df):\n    return 1' }), 'PRIVILEGE');
    await rejectsWith(stranger.grant({ script: 's', to: 'PUBLIC' }), 'PRIVILEGE');

    expect(await names(registered)).toEqual(['admin']);
    await rejectsWith(admin.table('PLANTED').count(), 'TABLE_NOT_FOUND');
    expect(await admin.datastores.list({ type: 'all' })).toEqual([]);
    // A session of an unknown user does not make it a grantee either.
    await admin.scripts.create('report', SCRIPT('report', 'the report'));
    await rejectsWith(admin.grant({ script: 'report', to: 'stranger' }), 'BAD_INPUT');
  });

  it('lets a session work once its user is created, and refuses it again once the user is dropped', async () => {
    const carol = registered.session({ user: 'carol' });
    await rejectsWith(carol.scripts.list(), 'PRIVILEGE');
    await registered.users.create('carol');
    await rejectsWith(carol.table('FACTS').count(), 'TABLE_NOT_FOUND'); // admin's table, not granted
    await admin.grant({ table: 'FACTS', to: 'carol' });
    expect(await carol.table('FACTS').count()).toBe(2);
    await admin.grant({ script: 'report', to: 'carol' });
    expect((await carol.doEval({ name: 'report', owner: 'admin' })).value).toBe('the report');

    await registered.users.drop('carol');
    await rejectsWith(carol.doEval({ name: 'report', owner: 'admin' }), 'PRIVILEGE');
    await rejectsWith(carol.table('FACTS').count(), 'PRIVILEGE');
    expect(await names(registered)).toEqual(['admin']);
    expect((await admin.scripts.list({ type: 'grant' })).map((s) => s.grantee)).toEqual([]);
  });

  it('keeps passwords as salted hashes: authenticate checks them, setPassword changes or removes them', async () => {
    await registered.users.create('pat', { password: 'first-password' });
    expect(await registered.users.authenticate('pat', 'first-password')).toBe(true);
    expect(await registered.users.authenticate('pat', 'First-password')).toBe(false);
    expect(await registered.users.authenticate('nobody', 'first-password')).toBe(false);
    expect(await registered.users.authenticate('PUBLIC', 'first-password')).toBe(false);
    await registered.users.setPassword('pat', 'second-password');
    expect(await registered.users.authenticate('pat', 'first-password')).toBe(false);
    expect(await registered.users.authenticate('pat', 'second-password')).toBe(true);
    await registered.users.setPassword('pat', null);
    expect(await registered.users.authenticate('pat', 'second-password')).toBe(false);
    // Users created without a password cannot sign in.
    expect(await registered.users.authenticate('admin', '')).toBe(false);
    await rejectsWith(registered.users.create('shorty', { password: 'short' }), 'BAD_INPUT');
    expect(await names(registered)).not.toContain('shorty');
    await rejectsWith(registered.users.setPassword('nobody', 'long enough'), 'BAD_INPUT');
    await rejectsWith(registered.users.setPassword('pat', 'short'), 'BAD_INPUT');
    await registered.users.drop('pat');
  });

  it('refuses a bad users option', async () => {
    await rejectsWith(createEngine({ database: ':memory:', workers: 1, users: 'anyone' as 'open' }), 'BAD_INPUT');
  });
});
