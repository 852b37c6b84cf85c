import type { Engine, Session } from '@insitu/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticate } from './auth-routes.js';
import { BODY_SCHEMAS, DEFAULT_ENV, restCallOf, type ApplyBody, type RestApplyKind, type RestCall } from './rest-call.js';
import { RestCode, RestError } from './rest-errors.js';
import { ARROW_STREAM, arrowResult, checkOutputLimit, restResult } from './rest-result.js';
import { applyCallOf, runCall } from './run-call.js';
import type { TokenService } from './token-service.js';

/** What the py-scripts routes need from the server. */
export interface PyScriptContext {
  readonly engine: Engine;
  readonly tokens: TokenService;
  /** Most rows/items a result may have. */
  readonly outputLimit: number;
  /** Seconds a sync call runs without `timeout`, and the most it may ask for. */
  readonly syncTimeoutS: number;
}

const KINDS: readonly RestApplyKind[] = ['do-eval', 'table-apply', 'row-apply', 'group-apply', 'index-apply'];

/** The signed-in user's session, or 401. */
export async function sessionOf(ctx: PyScriptContext, req: FastifyRequest): Promise<Session> {
  const claims = await authenticate(ctx.tokens, req);
  return ctx.engine.session({ user: claims.user });
}

/** An AbortSignal that fires when the client goes away before the answer is sent. */
function hangUpSignal(reply: FastifyReply): AbortSignal {
  const ctl = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ctl.abort();
  });
  return ctl.signal;
}

/** The `origin` of a job submitted over REST (`jobs.status().origin`); with graphicsFlag its result answers `{ID, DATA, IMAGE}` entries. */
export const REST_ORIGIN = 'rest';
/** The origin of a REST job submitted with `graphicsFlag: true`. */
export const REST_GRAPHICS_ORIGIN = 'rest graphicsFlag';

/**
 * Submit `call` as a job of the session's user (the same call value the sync path runs; `timeout`
 * becomes the job's timeoutMs, 1800 s when not given) and answer 201 with the job's Location.
 */
async function submitAsync(ctx: PyScriptContext, session: Session, call: RestCall, req: FastifyRequest, reply: FastifyReply, prefix: string): Promise<FastifyReply> {
  const value = await applyCallOf(session, call);
  const { id } = await ctx.engine.jobs.submitAs(session.user, value, { origin: call.graphics ? REST_GRAPHICS_ORIGIN : REST_ORIGIN });
  return reply.status(201).header('Location', `${baseUrl(req, prefix)}/v1/jobs/${encodeURIComponent(id)}`).send();
}

function metadata(base: string) {
  return { version: 'v1', isLatest: true, lifecycle: 'active', links: [{ rel: 'self', href: `${base}/v1` }, { rel: 'scripts', href: `${base}/v1/scripts` }] };
}

/** The absolute URL of `prefix`'s py-scripts base for this request (`.../py-scripts`), tenant and database filled in. */
export function baseUrl(req: FastifyRequest, prefix: string): string {
  const path = prefix.replace(':tenant', encodeURIComponent((req.params as { tenant?: string }).tenant ?? '')).replace(':db', encodeURIComponent((req.params as { db?: string }).db ?? ''));
  return `${req.protocol}://${req.host}${path}/py-scripts`;
}

/**
 * The py-scripts/v1 routes under `prefix` (`/oml/api`, or the tenant form with `:tenant` and `:db`):
 * version metadata, the script list, the environment list and the five apply endpoints.
 */
export function registerPyScriptRoutes(app: FastifyInstance, prefix: string, ctx: PyScriptContext): void {
  const base = `${prefix}/py-scripts`;
  app.get(base, async (req) => ({ items: [metadata(baseUrl(req, prefix))] }));
  app.get(`${base}/v1`, async (req) => metadata(baseUrl(req, prefix)));

  app.get(`${base}/v1/scripts`, async (req) => {
    const session = await sessionOf(ctx, req);
    const scripts = await session.scripts.list({ type: 'all' });
    return {
      result: scripts.map((s) => ({ name: s.name, owner: s.owner, global: s.global, description: s.description, date: s.created.toISOString() })),
    };
  });

  app.get(`${base}/v1/envs`, async (req) => {
    await sessionOf(ctx, req);
    const named = (await ctx.engine.environments.list()).map((e) => ({
      name: e.name,
      description: e.description ?? `packages: ${e.packages.map((p) => `${p.name} ${p.version}`).join(', ')}`,
      packages: e.packages.map((p) => ({ name: p.name, version: p.version })),
    }));
    return { result: [{ name: DEFAULT_ENV, description: "the engine's default Pyodide interpreter (Python standard library, insitu and the engine's preloaded packages)" }, ...named] };
  });

  for (const kind of KINDS) {
    const handler = async (req: FastifyRequest<{ Params: { script: string; owner?: string }; Body: ApplyBody }>, reply: FastifyReply) => {
      const session = await sessionOf(ctx, req);
      const call = restCallOf(kind, req.params.script, req.params.owner, req.body ?? {});
      // index-apply answers one item per index: past the limit, refuse before running anything.
      if (call.times !== undefined && call.times > ctx.outputLimit) {
        throw new RestError(400, RestCode.OUTPUT_LIMIT, `Output exceeds maximum length ${ctx.outputLimit} (outputLimit): times = ${call.times} gives as many items; ask for fewer, or start the server with a larger outputLimit`);
      }
      if (call.async) return submitAsync(ctx, session, call, req, reply, prefix);
      const arrow = (req.headers.accept ?? '').toLowerCase().includes(ARROW_STREAM);
      if (call.timeoutS !== undefined && call.timeoutS > ctx.syncTimeoutS) {
        throw new RestError(400, RestCode.BAD_INPUT, `timeout ${call.timeoutS} s is longer than a synchronous call may run (${ctx.syncTimeoutS} s, the server's syncTimeoutS); send the request with "asyncFlag": true to run it as a job`);
      }
      const result = await runCall(session, { ...call, timeoutS: call.timeoutS ?? ctx.syncTimeoutS }, hangUpSignal(reply));
      checkOutputLimit(kind, result, ctx.outputLimit);
      if (arrow) return reply.type(ARROW_STREAM).send(Buffer.from(arrowResult(result)));
      return { result: restResult(kind, result, call.graphics) };
    };
    const schema = { body: BODY_SCHEMAS[kind] };
    app.post(`${base}/v1/${kind}/:script`, { schema }, handler);
    app.post(`${base}/v1/${kind}/:script/:owner`, { schema }, handler);
  }
}
