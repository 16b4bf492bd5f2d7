import bearerAuth from '@fastify/bearer-auth';
import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Route answers without the bearer token (health, readiness, metrics, dashboard assets, OpenAPI). */
    public?: boolean;
  }
}

/**
 * When `token` is set, every route not marked `config: { public: true }` requires
 * `Authorization: Bearer <token>` (constant-time comparison by `@fastify/bearer-auth`); a missing or wrong
 * token is answered 401 by the error handler. GETs under `publicPrefixes` (static assets) stay open.
 * Without a token, everything is open.
 */
export async function installAuth(
  app: FastifyInstance,
  token: string | undefined,
  publicPrefixes: readonly string[] = [],
): Promise<void> {
  if (!token) return;
  await app.register(bearerAuth, { keys: [token], addHook: false, verifyErrorLogLevel: 'info' });
  const verify = app.verifyBearerAuth!;
  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.config?.public || request.is404) return done();
    if (request.method === 'GET' && publicPrefixes.some((p) => request.url.startsWith(p))) return done();
    verify(request, reply, done);
  });
}
