import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, createServer, type Engine, type RestServer } from 'insitu';
import { irisRows, rejectsWith, tempDatabase } from './helpers.js';

// Asynchronous execution over real HTTP (asyncFlag, GET jobs/:id, GET jobs/:id/result, DELETE jobs/:id):
// a real engine in the default isolation, a real SQLite file, one server for the file.

const db = tempDatabase('rest-async.db');
let engine: Engine;
let server: RestServer;
const PW = { alice: 'alice-password-1', bob: 'bob-password-22' } as const;
const API = '/oml/api/py-scripts/v1';
const TENANT_API = '/oml/tenants/T1/databases/DB1/api/py-scripts/v1';

const IRIS = irisRows();

// Seed 000: a stored script fits a model and saves it to a datastore; another scores rows with it.
const BUILD_MODEL = `
import insitu

class Line:
    def __init__(self, a, b):
        self.a, self.b = a, b
    def predict(self, x):
        return self.a * x + self.b

def build_model(df):
    xs, ys = df["PETAL_LENGTH"], df["PETAL_WIDTH"]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    a = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    insitu.ds.save({"line": Line(a, my - a * mx)}, "ds_line", overwrite=True)
    return {"a": [a], "b": [my - a * mx]}
`;
const SCORE = `
import insitu

def score(dat):
    m = insitu.ds.load("ds_line", objs=["line"])["line"]
    rows = dat.to_records()
    return {"SPECIES": [r["SPECIES"] for r in rows], "PETAL_WIDTH": [r["PETAL_WIDTH"] for r in rows],
            "PRED": [m.predict(r["PETAL_LENGTH"]) for r in rows]}
`;

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

async function token(user: string, password: string): Promise<string> {
  const r = await fetch(`${server.url}/omlusers/api/oauth2/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'password', username: user, password }),
  });
  expect(r.status).toBe(200);
  return ((await r.json()) as { accessToken: string }).accessToken;
}

/** A request to `url` (absolute, or a path on the server); redirects are not followed. */
async function call(url: string, tok: string, body?: unknown, opts: { method?: string; accept?: string } = {}): Promise<Answer> {
  const r = await fetch(url.startsWith('http') ? url : `${server.url}${url}`, {
    method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
    redirect: 'manual',
    headers: {
      authorization: `Bearer ${tok}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(opts.accept === undefined ? {} : { accept: opts.accept }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await r.text();
  return { status: r.status, body: text === '' ? null : JSON.parse(text), headers: r.headers };
}

/** Submit with asyncFlag: expect 201 and a Location under `api`; return that Location and the job id. */
async function submit(tok: string, path: string, body: object, api = API): Promise<{ location: string; id: string }> {
  const a = await call(`${api}/${path}`, tok, { ...body, asyncFlag: true });
  expect(a.status, JSON.stringify(a.body)).toBe(201);
  const location = a.headers.get('location')!;
  expect(location).toMatch(new RegExp(`^${server.url}${api.replace(/\//g, '\\/')}/jobs/[0-9a-f-]{36}$`));
  return { location, id: location.split('/').pop()! };
}

/** Poll a job's status URL until it answers 302; return the statuses seen and the last answer. */
async function until302(tok: string, location: string): Promise<{ seen: number[]; last: Answer }> {
  const seen: number[] = [];
  const deadline = Date.now() + 60_000;
  for (;;) {
    const a = await call(location, tok);
    seen.push(a.status);
    if (a.status !== 202 || Date.now() > deadline) return { seen, last: a };
    await new Promise((r) => setTimeout(r, 50));
  }
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
  await me.scripts.create('score', SCORE);
  await me.scripts.create('sleepy', 'import time\ndef sleepy(s):\n    time.sleep(s)\n    return s');
  await me.scripts.create('boom', 'def boom():\n    x = 1\n    raise ValueError("bad value here")');
  await me.scripts.create('many', 'def many(n):\n    return list(range(n))');
  server = await createServer(engine, { outputLimit: 200 });
  [alice, bob] = await Promise.all([token('alice', PW.alice), token('bob', PW.bob)]);
});

afterAll(async () => {
  await server?.close();
  await engine?.close();
  db.cleanup();
});

describe('seed 000 over HTTP, asynchronously', () => {
  it('table-apply builds the model; async row-apply with timeout 300 answers 201, then 202 while it waits, 302 when done, and the same result as the sync call', async () => {
    const built = await call(`${API}/table-apply/build_model`, alice, { input: 'select * from IRIS' });
    expect(built.status, JSON.stringify(built.body)).toBe(200);
    expect(built.body.result[0].a).toBeGreaterThan(0.3);

    // One job runs at a time (maxConcurrentJobs 1): a sleeping job holds the queue, so the scoring job is seen waiting.
    const blocker = await submit(alice, 'do-eval/sleepy', { parameters: '{"s": 1.5}' });
    const body = { input: 'select * from IRIS', rows: 10, parallelFlag: true, service: 'MEDIUM', timeout: 300 };
    const job = await submit(alice, 'row-apply/score', body);

    const waiting = await call(job.location, alice);
    expect(waiting.status).toBe(202);
    expect(waiting.body).toEqual({ createdDate: expect.any(String), status: 'job is still running', elapsedTime: expect.stringMatching(/^\d\d:\d\d:\d\d$/), state: expect.stringMatching(/^(queued|running)$/) });
    expect(Date.now() - Date.parse(waiting.body.createdDate)).toBeLessThan(30_000);
    const early = await call(`${job.location}/result`, alice);
    expect(early.status).toBe(404);
    expect(early.body.code).toBe('NOT_READY');
    expect(early.body.errorMessage).toMatch(/not ready/);

    // The job is a job of the library's API too.
    const lib = await engine.session({ user: 'alice' }).jobs.status(job.id);
    expect(lib).toMatchObject({ owner: 'alice', kind: 'rowApply', func: 'score', origin: 'rest' });
    expect(['queued', 'running']).toContain(lib.state);

    const { seen, last } = await until302(alice, job.location);
    expect(seen[0]).toBe(202);
    expect(last.status).toBe(302);
    expect(last.body).toBeNull();
    expect(last.headers.get('content-location')).toBe(`${job.location}/result`);
    expect((await engine.session({ user: 'alice' }).jobs.status(job.id)).state).toBe('succeeded');
    expect((await call(blocker.location, alice)).status).toBe(302);

    const result = await call(last.headers.get('content-location')!, alice);
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    const sync = await call(`${API}/row-apply/score`, alice, body);
    expect(sync.status).toBe(200);
    expect(result.body).toEqual(sync.body);
    expect(result.body.result).toHaveLength(150);
    expect(result.body.result.map((r: { SPECIES: string }) => r.SPECIES)).toEqual(IRIS.map((r) => r.SPECIES));

    // Arrow IPC of the job's result, as of the sync call's.
    const r = await fetch(`${job.location}/result`, { headers: { authorization: `Bearer ${alice}`, accept: 'application/vnd.apache.arrow.stream' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('application/vnd.apache.arrow.stream');
    const table = tableFromIPC(new Uint8Array(await r.arrayBuffer()));
    expect(table.numRows).toBe(150);
    expect(table.getChild('PRED')!.toArray()[7]).toBeCloseTo(result.body.result[7].PRED, 12);
  });

  it('works under the tenant form of the path: Location and Content-Location stay under it', async () => {
    const job = await submit(alice, 'index-apply/many', { times: 3, parameters: '{}' }, TENANT_API);
    const { last } = await until302(alice, job.location);
    expect(last.status).toBe(302);
    expect(last.headers.get('content-location')).toBe(`${server.url}${TENANT_API}/jobs/${job.id}/result`);
    const result = await call(last.headers.get('content-location')!, alice);
    expect(result.body).toEqual({ result: [[0], [0, 1], [0, 1, 2]] });
    // The same job under the plain path.
    expect((await call(`${API}/jobs/${job.id}/result`, alice)).body).toEqual(result.body);
  });
});

describe('failed jobs and limits', () => {
  it('a failing script: the status is 302 and the result is the error the sync call gives (400 PYTHON_ERROR with the traceback)', async () => {
    const job = await submit(alice, 'do-eval/boom', {});
    const { last } = await until302(alice, job.location);
    expect(last.status).toBe(302);
    const failed = await call(`${job.location}/result`, alice);
    expect(failed.status).toBe(400);
    const sync = await call(`${API}/do-eval/boom`, alice, {});
    expect(sync.status).toBe(400);
    expect(failed.body).toEqual(sync.body);
    expect(failed.body.code).toBe('PYTHON_ERROR');
    expect(failed.body.errorMessage).toMatch(/bad value here/);
    expect(failed.body.traceback).toMatch(/ValueError/);
    expect((await engine.session({ user: 'alice' }).jobs.status(job.id)).state).toBe('failed');
  });

  it('timeout bounds the job: past it the job ends timed_out and its result is 504 TIMEOUT', async () => {
    const job = await submit(alice, 'do-eval/sleepy', { parameters: '{"s": 30}', timeout: 1 });
    const { last } = await until302(alice, job.location);
    expect(last.status).toBe(302);
    const r = await call(`${job.location}/result`, alice);
    expect(r.status).toBe(504);
    expect(r.body.code).toBe('TIMEOUT');
    expect((await engine.session({ user: 'alice' }).jobs.status(job.id)).state).toBe('timed_out');
  });

  it('the output limit applies to job results: over it the result is 400 OUTPUT_LIMIT naming the limit; index-apply past it is refused before a job exists', async () => {
    const job = await submit(alice, 'do-eval/many', { parameters: '{"n": 201}' });
    await until302(alice, job.location);
    const r = await call(`${job.location}/result`, alice);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('OUTPUT_LIMIT');
    expect(r.body.errorMessage).toMatch(/200/);
    const before = (await engine.session({ user: 'alice' }).jobs.list()).length;
    const refused = await call(`${API}/index-apply/many`, alice, { times: 201, asyncFlag: true });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('OUTPUT_LIMIT');
    expect((await engine.session({ user: 'alice' }).jobs.list()).length).toBe(before);
  });

  it('a bad async request is refused at once, with the sync status, and no job is stored', async () => {
    const before = (await engine.session({ user: 'alice' }).jobs.list()).length;
    const missing = await call(`${API}/do-eval/no_such_script`, alice, { asyncFlag: true });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('SCRIPT_NOT_FOUND');
    const table = await call(`${API}/table-apply/score`, alice, { input: 'select * from NO_TABLE', asyncFlag: true });
    expect(table.status).toBe(400);
    expect(table.body.code).toBe('TABLE_NOT_FOUND');
    expect((await engine.session({ user: 'alice' }).jobs.list()).length).toBe(before);
  });

  it('jobs of the library API answer here too: a succeeded group-apply in the endpoint shape, a cancelled job 302 then 410 CANCELLED', async () => {
    const lib = engine.session({ user: 'alice' });
    const { id } = await lib.jobs.submit({ kind: 'groupApply', data: lib.query('select SPECIES, PETAL_WIDTH from IRIS'), by: ['SPECIES'], func: { source: 'def n(df):\n    return len(df)', name: 'n' } });
    await lib.jobs.wait(id, { timeoutMs: 60_000 });
    const done = await call(`${API}/jobs/${id}/result`, alice);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toEqual({ result: { setosa: 50, versicolor: 50, virginica: 50 } });

    const blocker = await lib.jobs.submit({ kind: 'doEval', func: 'sleepy', options: { args: { s: 1 } } });
    const queued = await lib.jobs.submit({ kind: 'doEval', func: 'sleepy', options: { args: { s: 0 } } });
    expect((await lib.jobs.cancel(queued.id)).state).toBe('cancelled');
    const status = await call(`${API}/jobs/${queued.id}`, alice);
    expect(status.status).toBe(302);
    const gone = await call(`${API}/jobs/${queued.id}/result`, alice);
    expect(gone.status).toBe(410);
    expect(gone.body.code).toBe('CANCELLED');
    await lib.jobs.wait(blocker.id, { timeoutMs: 60_000 });
  });
});

describe('whose job', () => {
  it("another user's job answers 404 exactly as a missing one, on status, result and DELETE, and stays untouched", async () => {
    const job = await submit(alice, 'do-eval/sleepy', { parameters: '{"s": 0.1}' });
    await until302(alice, job.location);
    const asBob = await Promise.all([call(job.location, bob), call(`${job.location}/result`, bob), call(job.location, bob, undefined, { method: 'DELETE' })]);
    for (const a of asBob) {
      expect(a.status).toBe(404);
      expect(a.body.code).toBe('JOB_NOT_FOUND');
    }
    await rejectsWith(engine.session({ user: 'bob' }).jobs.status(job.id), 'JOB_NOT_FOUND');
    expect((await call(`${job.location}/result`, alice)).body).toEqual({ result: 0.1 });

    // Once alice deletes it, the job is missing: bob's answers are the same bytes as before.
    const del = await call(job.location, alice, undefined, { method: 'DELETE' });
    expect(del.status).toBe(204);
    const gone = await Promise.all([call(job.location, bob), call(`${job.location}/result`, bob), call(job.location, bob, undefined, { method: 'DELETE' })]);
    expect(gone.map((a) => [a.status, a.body])).toEqual(asBob.map((a) => [a.status, a.body]));
    expect((await call(job.location, alice)).body).toEqual(asBob[0]!.body);
    // An id no job could have answers the same way.
    const long = await call(`${API}/jobs/${'x'.repeat(100)}`, alice);
    expect(long.status).toBe(404);
    expect(long.body.code).toBe('JOB_NOT_FOUND');
    expect((await call(`${API}/jobs/${job.id}`, alice)).headers.get('content-type')).toContain('application/json');
  });

  it('DELETE stops a running job (cancel, then delete) and a token is needed for every job route', async () => {
    const job = await submit(alice, 'do-eval/sleepy', { parameters: '{"s": 30}' });
    const lib = engine.session({ user: 'alice' });
    const deadline = Date.now() + 30_000;
    while ((await lib.jobs.status(job.id)).state !== 'running' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const del = await call(job.location, alice, undefined, { method: 'DELETE' });
    expect(del.status).toBe(204);
    await rejectsWith(lib.jobs.status(job.id), 'JOB_NOT_FOUND');
    // Its worker is free again: two calls sleeping 3 s run side by side on the two workers (one after
    // the other, ≥ 6 s, if the deleted job still held one).
    const t1 = Date.now();
    const two = await Promise.all([1, 2].map(() => call(`${API}/do-eval/sleepy`, alice, { parameters: '{"s": 3}' })));
    expect(two.map((a) => a.status)).toEqual([200, 200]);
    expect(Date.now() - t1).toBeLessThan(5_500);

    for (const [method, path] of [['GET', job.location], ['GET', `${job.location}/result`], ['DELETE', job.location]] as const) {
      const r = await fetch(path, { method, redirect: 'manual' });
      expect(r.status).toBe(401);
    }
  });
});
