import type { Engine } from '@insitu/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RestError, unauthorized } from './rest-errors.js';
import type { TokenClaims, TokenService } from './token-service.js';

/** Base of the token endpoints, as in OML4Py. */
export const TOKEN_PATH = '/omlusers/api/oauth2/v1/token';

interface TokenBody {
  grant_type: 'password' | 'refresh_token';
  username?: string;
  password?: string;
  refresh_token?: string;
}

const TOKEN_SCHEMA = {
  type: 'object',
  required: ['grant_type'],
  additionalProperties: false,
  properties: {
    grant_type: { type: 'string', enum: ['password', 'refresh_token'] },
    username: { type: 'string', maxLength: 128 },
    password: { type: 'string', maxLength: 1024 },
    refresh_token: { type: 'string', maxLength: 8192 },
  },
} as const;

/** The bearer token of a request, or 401. */
export function bearerOf(req: FastifyRequest): string {
  const header = req.headers.authorization;
  const m = typeof header === 'string' ? /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(header) : null;
  if (m === null) throw unauthorized('send an access token as "Authorization: Bearer <token>" (get one from POST /omlusers/api/oauth2/v1/token)');
  return m[1]!;
}

/** The verified claims of a request's bearer token, or 401. */
export function authenticate(tokens: TokenService, req: FastifyRequest): Promise<TokenClaims> {
  return tokens.verify(bearerOf(req));
}

/** POST …/token (password and refresh_token grants) and POST …/token/revoke. */
export function registerAuthRoutes(app: FastifyInstance, engine: Engine, tokens: TokenService): void {
  app.post<{ Body: TokenBody }>(TOKEN_PATH, { schema: { body: TOKEN_SCHEMA } }, async (req) => {
    const body = req.body;
    if (body.grant_type === 'password') {
      if (body.username === undefined || body.password === undefined) {
        throw new RestError(400, 'BAD_INPUT', 'grant_type "password" needs username and password');
      }
      if (!(await engine.users.authenticate(body.username, body.password))) throw unauthorized('invalid username or password');
      return tokens.issue(body.username);
    }
    if (body.refresh_token === undefined) throw new RestError(400, 'BAD_INPUT', 'grant_type "refresh_token" needs refresh_token: the current access token');
    const claims = await tokens.verify(body.refresh_token);
    return tokens.issue(claims.user, claims);
  });

  app.post(`${TOKEN_PATH}/revoke`, async (req) => {
    await tokens.revoke(await authenticate(tokens, req));
    return { revoked: true };
  });
}
