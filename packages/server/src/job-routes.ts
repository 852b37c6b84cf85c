import { ErrorCode, InsituError, type JobStatus } from '@insitu/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { baseUrl, REST_GRAPHICS_ORIGIN, sessionOf, type PyScriptContext } from './py-script-routes.js';
import { RestError } from './rest-errors.js';
import { ARROW_STREAM, arrowResult, checkOutputLimit, restResult } from './rest-result.js';
import { REST_KIND_OF } from './run-call.js';

/**
 * The job endpoints of the py-scripts/v1 API (OML4Py's asynchronous execution): a job's status and its
 * result, for jobs of the token's user (submitted with `asyncFlag` or through `session.jobs`).
 */

type JobRequest = FastifyRequest<{ Params: { id: string } }>;

/** The job's status as its owner sees it; a missing job and another user's answer the same 404. */
async function statusOf(ctx: PyScriptContext, req: JobRequest): Promise<{ status: JobStatus; session: Awaited<ReturnType<typeof sessionOf>> }> {
  const session = await sessionOf(ctx, req);
  // Ids longer than Fastify's maxParamLength (100) are answered 414 before this; any other is looked up.
  return { status: await session.jobs.status(req.params.id), session };
}

/** `hh:mm:ss` (hours may exceed 24), as OML4Py's `elapsedTime`. */
function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
}

/** Register `GET …/jobs/:id`, `GET …/jobs/:id/result` and `DELETE …/jobs/:id` under `prefix` (as the py-scripts routes). */
export function registerJobRoutes(app: FastifyInstance, prefix: string, ctx: PyScriptContext): void {
  const jobs = `${prefix}/py-scripts/v1/jobs`;

  // 202 while queued or running; 302 with Content-Location of the result once it ended (in any final state).
  app.get(`${jobs}/:id`, async (req: JobRequest, reply: FastifyReply) => {
    const { status } = await statusOf(ctx, req);
    if (status.state === 'queued' || status.state === 'running') {
      return reply.status(202).send({
        createdDate: status.created.toISOString(),
        status: 'job is still running',
        elapsedTime: clock(status.elapsedMs),
        state: status.state,
      });
    }
    const location = `${baseUrl(req, prefix)}/v1/jobs/${encodeURIComponent(status.id)}/result`;
    return reply.status(302).header('Content-Location', location).send();
  });

  // The result as the sync call answers it (or its error as the sync call's); 404 NOT_READY before it ended.
  app.get(`${jobs}/:id/result`, async (req: JobRequest, reply: FastifyReply) => {
    const { status, session } = await statusOf(ctx, req);
    if (status.state === 'queued' || status.state === 'running') {
      throw new RestError(404, ErrorCode.NOT_READY, `job ${status.id} is ${status.state}: its result is not ready; ask GET …/jobs/${status.id} until it answers 302`);
    }
    const result = await session.jobs.result(status.id).catch((e: unknown) => {
      // A sync CANCELLED is the client's own hang-up (499); a cancelled job simply has no result.
      if (e instanceof InsituError && e.code === ErrorCode.CANCELLED) throw new RestError(410, ErrorCode.CANCELLED, `job ${status.id} was cancelled: it has no result`);
      throw e;
    });
    const kind = REST_KIND_OF[status.kind];
    checkOutputLimit(kind, result, ctx.outputLimit);
    if ((req.headers.accept ?? '').toLowerCase().includes(ARROW_STREAM)) return reply.type(ARROW_STREAM).send(Buffer.from(arrowResult(result)));
    return { result: restResult(kind, result, status.origin === REST_GRAPHICS_ORIGIN) };
  });

  // Beyond the anchor: cancel the job if it still runs, and delete it with its result.
  app.delete(`${jobs}/:id`, async (req: JobRequest, reply: FastifyReply) => {
    const { status, session } = await statusOf(ctx, req);
    await session.jobs.delete(status.id);
    return reply.status(204).send();
  });
}

