import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, createServer, type Engine, type RestServer } from 'insitu';
import { irisRows, tempDatabase } from './helpers.js';

// The REST server over real HTTP on 127.0.0.1, a real engine (default isolation) and a real SQLite file.

const db = tempDatabase('rest.db');
let engine: Engine;
let server: RestServer;
const PW = { alice: 'alice-password-1', bob: 'bob-password-22' } as const;
const API = '/oml/api/py-scripts/v1';

const IRIS = irisRows();

const BUILD_MODEL = `
import insitu

FEATURES = ["SEPAL_LENGTH", "SEPAL_WIDTH", "PETAL_LENGTH"]

class LinearModel:
    def __init__(self, beta):
        self.beta = beta
    def predict(self, row):
        return self.beta[0] + sum(b * row[f] for b, f in zip(self.beta[1:], FEATURES))

def solve(a, b):
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(c + 1, n):
            f = m[r][c] / m[c][c]
            for k in range(c, n + 1):
                m[r][k] -= f * m[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][k] * x[k] for k in range(r + 1, n))) / m[r][r]
    return x

def build_model(df, target="PETAL_WIDTH"):
    xs = [[1.0] + [df[f][i] for f in FEATURES] for i in range(len(df))]
    y = df[target]
    k = len(xs[0])
    beta = solve([[sum(r[i] * r[j] for r in xs) for j in range(k)] for i in range(k)], [sum(r[i] * t for r, t in zip(xs, y)) for i in range(k)])
    insitu.ds.save({"regr": LinearModel(beta)}, "ds_pymodel", description="PETAL_WIDTH model", overwrite=True, grantable=True)
    return {"term": ["intercept"] + FEATURES, "coef": beta}
`;
const REGR_PREDICT = `
import insitu

def regr_predict(dat):
    model = insitu.ds.load("ds_pymodel", objs=["regr"])["regr"]
    rows = dat.to_records()
    return {"SPECIES": [r["SPECIES"] for r in rows], "PETAL_WIDTH": [r["PETAL_WIDTH"] for r in rows],
            "Pred_Petal_Width": [model.predict(r) for r in rows]}
`;

async function token(user: string, password: string, base = server.url): Promise<string> {
  const r = await fetch(`${base}/omlusers/api/oauth2/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'password', username: user, password }),
  });
  expect(r.status).toBe(200);
  const body = (await r.json()) as { accessToken: string; expiresIn: number; tokenType: string };
  expect(body.tokenType).toBe('Bearer');
  return body.accessToken;
}

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

async function call(path: string, tok: string | null, body?: unknown, base = server.url, headers: Record<string, string> = {}): Promise<Answer> {
  const init: RequestInit = {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...(tok === null ? {} : { authorization: `Bearer ${tok}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  };
  const r = await fetch(`${base}${path}`, init);
  const text = await r.text();
  return { status: r.status, body: text === '' ? null : JSON.parse(text), headers: r.headers };
}

let alice: string;
let bob: string;

beforeAll(async () => {
  engine = await createEngine({ database: db.path, workers: 2, users: 'registered' });
  await engine.users.create('alice', { password: PW.alice });
  await engine.users.create('bob', { password: PW.bob });
  const me = engine.session({ user: 'alice' });
  await me.create('IRIS', IRIS, { overwrite: true });
  await me.scripts.create('build_model', BUILD_MODEL);
  await me.scripts.create('regr_predict', REGR_PREDICT);
  await me.scripts.create('whoami', 'def whoami(n):\n    return {"user": "alice", "n": n}');
  await me.scripts.create('count_rows', 'def count_rows(df):\n    return {"n": [len(df)]}');
  await me.scripts.create('echo', 'def echo(x=None, **kw):\n    return {"x": x, "kw": kw}');
  await me.scripts.create('idx', 'def idx(i, scale=1):\n    return i * scale');
  await me.scripts.create('many', 'def many(n):\n    return list(range(n))');
  await me.scripts.create('first_of', 'def first_of(df):\n    return {"first": [df["SEPAL_LENGTH"][0]]}');
  await me.scripts.create('sleepy', 'import time\ndef sleepy(s):\n    time.sleep(s)\n    return s');
  await me.scripts.create('boom', 'def boom():\n    x = 1\n    raise ValueError("bad value here")');
  await me.scripts.create('names_of', 'def names_of(df):\n    return {"cols": [",".join(df.columns)], "n": [len(df)]}');
  const b = engine.session({ user: 'bob' });
  await b.scripts.create('whoami', 'def whoami(n):\n    return {"user": "bob", "n": n}');
  await b.scripts.create('secret', 'def secret():\n    return "bob only"');
  await b.scripts.create('n_rows', 'def n_rows(df):\n    return len(df)');
  server = await createServer(engine, { bodyLimit: 64 * 1024 });
  [alice, bob] = await Promise.all([token('alice', PW.alice), token('bob', PW.bob)]);
});

afterAll(async () => {
  await server?.close();
  await engine?.close();
  db.cleanup();
});

describe('seed 001 over HTTP', () => {
  it('builds a model into a grantable datastore, then scores IRIS with row-apply rows=5 in parallel: 150 rows in table order', async () => {
    const meta = await call(`${API}`, null);
    expect(meta.status).toBe(200);
    expect(meta.body).toMatchObject({ version: 'v1', isLatest: true });
    const listed = await call(`${API}/scripts`, alice);
    expect(listed.status).toBe(200);
    expect(listed.body.result.map((s: { name: string }) => s.name)).toEqual(expect.arrayContaining(['build_model', 'regr_predict']));

    const built = await call(`${API}/table-apply/build_model`, alice, { input: 'select * from IRIS', parameters: '{"target": "PETAL_WIDTH"}' });
    expect(built.status, JSON.stringify(built.body)).toBe(200);
    expect(built.body.result.map((r: { term: string }) => r.term)).toEqual(['intercept', 'SEPAL_LENGTH', 'SEPAL_WIDTH', 'PETAL_LENGTH']);
    const stores = await engine.session({ user: 'alice' }).datastores.list();
    expect(stores.find((s) => s.name === 'ds_pymodel')?.grantable).toBe(true);

    const scored = await call(`${API}/row-apply/regr_predict`, alice, { input: 'select * from IRIS', rows: 5, parallelFlag: true, service: 'MEDIUM' });
    expect(scored.status, JSON.stringify(scored.body)).toBe(200);
    const rows = scored.body.result as { SPECIES: string; PETAL_WIDTH: number; Pred_Petal_Width: number }[];
    expect(rows).toHaveLength(150);
    expect(rows.map((r) => [r.SPECIES, r.PETAL_WIDTH])).toEqual(IRIS.map((r) => [r.SPECIES, r.PETAL_WIDTH]));
    const rmse = Math.sqrt(rows.reduce((a, r) => a + (r.Pred_Petal_Width - r.PETAL_WIDTH) ** 2, 0) / rows.length);
    expect(rmse).toBeLessThan(0.3);

    // The same result as an Arrow IPC stream, and under the tenant form of the path.
    const r = await fetch(`${server.url}/oml/tenants/T1/databases/DB1/api/py-scripts/v1/row-apply/regr_predict`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/vnd.apache.arrow.stream' },
      body: JSON.stringify({ input: 'select * from IRIS', rows: 5, parallelFlag: true, service: 'MEDIUM' }),
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('application/vnd.apache.arrow.stream');
    const table = tableFromIPC(new Uint8Array(await r.arrayBuffer()));
    expect(table.numRows).toBe(150);
    expect(table.getChild('Pred_Petal_Width')!.toArray()[0]).toBeCloseTo(rows[0]!.Pred_Petal_Width, 12);
  });

  it('answers do-eval, group-apply, index-apply and graphicsFlag in the anchor shapes', async () => {
    const ev = await call(`${API}/do-eval/echo`, alice, { parameters: JSON.stringify({ x: [1, 2], y: 'z' }) });
    expect(ev.body).toEqual({ result: { x: [1, 2], kw: { y: 'z' } } });
    const empty = await call(`${API}/do-eval/echo`, alice, {});
    expect(empty.body).toEqual({ result: { x: null, kw: {} } });
    const groups = await call(`${API}/group-apply/count_rows`, alice, { input: 'select * from IRIS', groupBy: 'SPECIES', parallelFlag: true });
    expect(groups.status).toBe(200);
    expect(groups.body.result).toEqual({ setosa: [{ n: 50 }], versicolor: [{ n: 50 }], virginica: [{ n: 50 }] });
    const two = await call(`${API}/group-apply/count_rows`, alice, { input: 'select SPECIES, case when PETAL_WIDTH > 1 then 1 else 0 end as WIDE from IRIS', groupBy: 'SPECIES, WIDE' });
    expect(Object.keys(two.body.result)).toContain('["versicolor",1]');
    const ordered = await call(`${API}/group-apply/first_of`, alice, { input: 'select * from IRIS', groupBy: 'SPECIES', orderBy: 'SEPAL_LENGTH DESC, PETAL_LENGTH' });
    expect(ordered.body.result).toEqual({ setosa: [{ first: 5.8 }], versicolor: [{ first: 7 }], virginica: [{ first: 7.9 }] });
    const idx = await call(`${API}/index-apply/idx`, alice, { times: 3, parameters: '{"scale": 10}', parallelFlag: true });
    expect(idx.body).toEqual({ result: [10, 20, 30] });
    const gfx = await call(`${API}/do-eval/echo`, alice, { graphicsFlag: true, parameters: '{"x": 5}' });
    expect(gfx.body).toEqual({ result: [{ ID: 1, DATA: JSON.stringify({ x: 5, kw: {} }), IMAGE: null }] });
    const naOmit = await call(`${API}/table-apply/names_of`, alice, {
      input: 'select * from (values (1, 2), (null, 3), (4, null)) as v',
      parameters: '{"oml_na_omit": true, "oml_input_type": "default"}',
    });
    expect(naOmit.body.result).toEqual([{ cols: 'column1,column2', n: 1 }]);
  });
});

describe('status codes', () => {
  it('400 for bad parameters, unknown fields, wrong types, non-SELECT input, an unknown envName, a script error (with traceback) and output over the limit; 504 past the timeout', async () => {
    const bad = async (body: unknown, path = `${API}/do-eval/echo`) => {
      const a = await call(path, alice, body);
      expect(a.status, JSON.stringify(a.body)).toBe(400);
      expect(typeof a.body.errorMessage).toBe('string');
      expect(typeof a.body.code).toBe('string');
      return a.body as { errorMessage: string; code: string; traceback?: string };
    };
    expect((await bad({ parameters: '{not json' })).errorMessage).toMatch(/parameters/);
    expect((await bad({ parameters: '[1]' })).errorMessage).toMatch(/parameters/);
    expect((await bad({ nosuchField: 1 })).errorMessage).toMatch(/nosuchField|additional/);
    expect((await bad({ parameters: '{"oml_bogus": 1}' })).errorMessage).toMatch(/oml_bogus/);
    await bad({ input: 'select 1', rows: '5' }, `${API}/row-apply/echo`);
    await bad({ rows: 5 }, `${API}/row-apply/echo`);
    expect((await bad({ envName: 'tf-gpu' })).errorMessage).toMatch(/tf-gpu/);
    expect((await call(`${API}/do-eval/echo`, alice, { envName: 'default' })).status).toBe(200);
    const del = await bad({ input: 'delete from IRIS' }, `${API}/table-apply/count_rows`);
    expect(del.code).toBe('BAD_INPUT');
    expect(await engine.session({ user: 'alice' }).table('IRIS').count()).toBe(150);
    await bad({ input: 'select * from insitu_users' }, `${API}/table-apply/count_rows`);
    const boom = await bad({}, `${API}/do-eval/boom`);
    expect(boom.code).toBe('PYTHON_ERROR');
    expect(boom.errorMessage).toMatch(/bad value here/);
    expect(boom.errorMessage).toMatch(/line 3, in boom/);
    const started = Date.now();
    const slow = await call(`${API}/do-eval/sleepy`, alice, { parameters: '{"s": 30}', timeout: 1 });
    expect(slow.status).toBe(504);
    expect(slow.body.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(10_000);
    const over = await bad({ parameters: '{"n": 5001}' }, `${API}/do-eval/many`);
    expect(over.code).toBe('OUTPUT_LIMIT');
    expect(over.errorMessage).toMatch(/5000/);
    expect((await call(`${API}/do-eval/many`, alice, { parameters: '{"n": 5000}' })).body.result).toHaveLength(5000);
    const times = await bad({ times: 5001 }, `${API}/index-apply/sleepy`);
    expect(times.code).toBe('OUTPUT_LIMIT');
  });

  it('401 without a token, with a garbage, tampered, expired or revoked one, and for a wrong password', async () => {
    const path = `${API}/do-eval/echo`;
    const no = await call(path, null, {});
    expect(no.status).toBe(401);
    expect(no.body.code).toBe('UNAUTHORIZED');
    expect(no.headers.get('www-authenticate')).toBe('Bearer');
    expect((await call(path, 'garbage', {})).status).toBe(401);
    // Tampered: bob's payload under alice's signature.
    const [h, , s] = alice.split('.');
    const forged = `${h}.${bob.split('.')[1]}.${s}`;
    expect((await call(path, forged, {})).status).toBe(401);
    // One signature character changed to another (always another: choosing by a different position left it
    // unchanged whenever it already was the replacement, about one token in 64).
    const at = alice.length - 2;
    const flipped = alice.slice(0, at) + (alice[at] === 'A' ? 'B' : 'A') + alice.slice(at + 1);
    expect(flipped).not.toBe(alice);
    expect((await call(path, flipped, {})).status).toBe(401);
    // A token signed with another secret.
    const other = await createServer(engine, { secret: 'x'.repeat(40) });
    try {
      const foreign = await token('alice', PW.alice, other.url);
      expect((await call(path, foreign, {})).status).toBe(401);
      expect((await call(path, foreign, {}, other.url)).status).toBe(200);
    } finally {
      await other.close();
    }
    const wrong = await fetch(`${server.url}/omlusers/api/oauth2/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'password', username: 'alice', password: 'not-her-password' }),
    });
    expect(wrong.status).toBe(401);
    const nobody = await fetch(`${server.url}/omlusers/api/oauth2/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'password', username: 'nobody', password: 'not-her-password' }),
    });
    expect(nobody.status).toBe(401);
    expect(await nobody.json()).toEqual(await wrong.json());
  });

  it('expires tokens after tokenTtlS, refreshes within refreshMaxS, and revokes a login (other logins keep working)', async () => {
    const refresh = (t: string, base = server.url) =>
      fetch(`${base}/omlusers/api/oauth2/v1/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: t }),
      });
    const short = await createServer(engine, { tokenTtlS: 1 });
    const capped = await createServer(engine, { refreshMaxS: 4 });
    try {
      const t = await token('alice', PW.alice, short.url);
      expect((await call(`${API}/scripts`, t, undefined, short.url)).status).toBe(200);
      const login = await token('alice', PW.alice, capped.url);
      await new Promise((r) => setTimeout(r, 2100));
      const expired = await call(`${API}/scripts`, t, undefined, short.url);
      expect(expired.status).toBe(401);
      expect(expired.body.errorMessage).toMatch(/expired/);
      expect((await refresh(t, short.url)).status).toBe(401);
      // A refresh never goes past refreshMaxS after the sign-in: 4 s, of which 2 or 3 (whole seconds) have passed.
      const renewed = await refresh(login, capped.url);
      expect(renewed.status).toBe(200);
      expect(((await renewed.json()) as { expiresIn: number }).expiresIn).toBeLessThanOrEqual(2);
    } finally {
      await Promise.all([short.close(), capped.close()]);
    }
    const first = await token('alice', PW.alice);
    const r = await refresh(first);
    expect(r.status).toBe(200);
    const renewed = ((await r.json()) as { accessToken: string }).accessToken;
    expect((await call(`${API}/scripts`, renewed)).status).toBe(200);
    const revoked = await call('/omlusers/api/oauth2/v1/token/revoke', first, {});
    expect(revoked.status).toBe(200);
    expect((await call(`${API}/scripts`, first)).status).toBe(401);
    expect((await call(`${API}/scripts`, renewed)).status).toBe(401);
    expect((await refresh(first)).status).toBe(401);
    // alice's other login is untouched.
    expect((await call(`${API}/scripts`, alice)).status).toBe(200);
    // A new server on the same database (a restart) accepts tokens issued before: the secret is in the database.
    const again = await createServer(engine);
    try {
      expect((await call(`${API}/scripts`, alice, undefined, again.url)).status).toBe(200);
      expect((await call(`${API}/scripts`, first, undefined, again.url)).status).toBe(401);
    } finally {
      await again.close();
    }
  });

  it('ends tokens when the password changes', async () => {
    await engine.users.create('dave', { password: 'dave-password-1' });
    const t = await token('dave', 'dave-password-1');
    expect((await call(`${API}/scripts`, t)).status).toBe(200);
    await engine.users.setPassword('dave', 'dave-password-2');
    expect((await call(`${API}/scripts`, t)).status).toBe(401);
    expect((await call(`${API}/scripts`, await token('dave', 'dave-password-2'))).status).toBe(200);
  });

  it("runs as the token's user: another user's table answers like a missing one until it is granted", async () => {
    const hidden = await call(`${API}/table-apply/n_rows`, bob, { input: 'select * from IRIS' });
    expect(hidden.status).toBe(400);
    expect(hidden.body.code).toBe('TABLE_NOT_FOUND');
    const missing = await call(`${API}/table-apply/n_rows`, bob, { input: 'select * from NO_SUCH_TABLE' });
    expect(missing.body.code).toBe('TABLE_NOT_FOUND');
    const me = engine.session({ user: 'alice' });
    await me.grant({ table: 'IRIS', to: 'bob', privilege: 'read' });
    try {
      expect((await call(`${API}/table-apply/n_rows`, bob, { input: 'select * from IRIS' })).body).toEqual({ result: 150 });
    } finally {
      await me.revoke({ table: 'IRIS', to: 'bob' });
    }
    expect((await call(`${API}/table-apply/n_rows`, bob, { input: 'select * from IRIS' })).status).toBe(400);
  });

  it("404 for another user's private script exactly as for a missing one; 200 once granted", async () => {
    const invisible = await call(`${API}/do-eval/secret/bob`, alice, {});
    expect(invisible.status).toBe(404);
    expect(invisible.body.code).toBe('SCRIPT_NOT_FOUND');
    const b = engine.session({ user: 'bob' });
    await b.grant({ script: 'secret', to: 'alice' });
    const granted = await call(`${API}/do-eval/secret/bob`, alice, {});
    expect(granted.status).toBe(200);
    expect(granted.body).toEqual({ result: 'bob only' });
    await b.revoke({ script: 'secret', to: 'alice' });
    await b.scripts.drop('secret');
    const missing = await call(`${API}/do-eval/secret/bob`, alice, {});
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual(invisible.body);
    expect((await call(`${API}/do-eval/nosuch`, alice, {})).status).toBe(404);
    // The same application in-process, without a socket.
    const injected = await server.app.inject({ method: 'POST', url: `${API}/do-eval/secret/bob`, headers: { authorization: `Bearer ${alice}` }, payload: {} });
    expect(injected.statusCode).toBe(404);
    expect(injected.json()).toEqual(invisible.body);
    const route = await call(`${API}/no-such-endpoint`, alice, {});
    expect(route.status).toBe(404);
    expect(route.body.code).toBe('NOT_FOUND');
  });

  it('413 for a body over bodyLimit, 415 for a non-JSON body, 406 for Arrow of a non-table, 403 for SQL reaching outside the database', async () => {
    const big = await call(`${API}/do-eval/echo`, alice, { parameters: JSON.stringify({ x: 'y'.repeat(70 * 1024) }) });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('BODY_TOO_LARGE');
    const text = await fetch(`${server.url}${API}/do-eval/echo`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/xml' }, body: '<x/>' });
    expect(text.status).toBe(415);
    const notTable = await call(`${API}/do-eval/echo`, alice, {}, server.url, { accept: 'application/vnd.apache.arrow.stream' });
    expect(notTable.status).toBe(406);
    expect(notTable.body.code).toBe('NOT_ACCEPTABLE');
    const outside = await call(`${API}/table-apply/count_rows`, alice, { input: "select load_extension('/tmp/evil.so')" });
    expect(outside.status).toBe(403);
    expect(outside.body.code).toBe('PRIVILEGE');
  });
});

describe('hostile requests', () => {
  it('answers malformed requests with 4xx JSON errors and keeps serving', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const raw = async (path: string, init: RequestInit) => {
      const r = await fetch(`${server.url}${path}`, init);
      const body = (await r.json()) as { errorMessage?: string; code?: string };
      expect(r.status, `${path} ${JSON.stringify(body)}`).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(typeof body.errorMessage).toBe('string');
    };
    const auth = { authorization: `Bearer ${alice}`, 'content-type': 'application/json' };
    await raw(`${API}/do-eval/echo`, { method: 'POST', headers: auth, body: '{"parameters": ' });
    await raw(`${API}/do-eval/echo`, { method: 'POST', headers: auth, body: '[]' });
    await raw(`${API}/do-eval/echo`, { method: 'POST', headers: auth, body: '"text"' });
    await raw(`${API}/do-eval/echo`, { method: 'POST', headers: auth, body: JSON.stringify({ parameters: `{"x": ${deep.slice(0, 40_000)}${deep.slice(-40_000)}}` }) });
    await raw(`${API}/do-eval/echo`, { method: 'POST', headers: auth, body: '{"__proto__": {"admin": true}}' });
    // Keyword arguments named like JavaScript internals are just keyword arguments.
    const odd = await fetch(`${server.url}${API}/do-eval/echo`, { method: 'POST', headers: auth, body: JSON.stringify({ parameters: '{"__proto__": 1, "constructor": 2}' }) });
    expect(await odd.text()).toBe('{"result":{"x":null,"kw":{"__proto__":1,"constructor":2}}}');
    await raw(`${API}/do-eval/..%2F..%2Fetc`, { method: 'POST', headers: auth, body: '{}' });
    await raw(`${API}/do-eval/echo/PUBLIC`, { method: 'POST', headers: auth, body: '{}' });
    await raw(`${API}/row-apply/echo`, { method: 'POST', headers: auth, body: JSON.stringify({ input: 'select 1; drop table IRIS' }) });
    await raw(`${API}/table-apply/count_rows`, { method: 'POST', headers: auth, body: JSON.stringify({ input: "attach database '/tmp/x.db' as x" }) });
    await raw(`${API}/index-apply/idx`, { method: 'POST', headers: auth, body: JSON.stringify({ times: 1e12 }) });
    await raw(`${API}/do-eval/echo`, { method: 'POST', headers: { ...auth, authorization: `Bearer ${'a'.repeat(9000)}` }, body: '{}' });
    await raw(`${API}/do-eval/echo`, { method: 'POST', headers: { ...auth, authorization: 'Basic YWxpY2U6cHc=' }, body: '{}' });
    await raw('/omlusers/api/oauth2/v1/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials' }) });
    await raw('/omlusers/api/oauth2/v1/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'password', username: 'alice', password: { $ne: 1 } }) });
    expect(await engine.session({ user: 'alice' }).table('IRIS').count()).toBe(150);
    expect((await call(`${API}/do-eval/echo`, alice, { parameters: '{"x": 1}' })).body).toEqual({ result: { x: 1, kw: {} } });
  });
});

describe('concurrency', () => {
  it('serves 100 concurrent requests from 20 clients of two users, each answered as its own user', async () => {
    const clients = Array.from({ length: 20 }, (_, c) => ({ user: c % 2 === 0 ? 'alice' : 'bob', token: c % 2 === 0 ? alice : bob }));
    const answers = await Promise.all(
      clients.map(async (c, ci) => {
        const mine = [];
        for (let k = 0; k < 5; k++) mine.push(call(`${API}/do-eval/whoami`, c.token, { parameters: JSON.stringify({ n: ci * 100 + k }) }));
        return Promise.all(mine);
      }),
    );
    answers.forEach((list, ci) =>
      list.forEach((a, k) => {
        expect(a.status).toBe(200);
        expect(a.body).toEqual({ result: { user: clients[ci]!.user, n: ci * 100 + k } });
      }),
    );
  });
});
