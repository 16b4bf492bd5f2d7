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
 * token is answered 401 by the error handler; the scheme name is case-insensitive. GETs and HEADs under
 * `publicPrefixes` (static assets) stay open.
 * Without a token, everything is open.
 */
export async function installAuth(
  app: FastifyInstance,
  token: string | undefined,
  publicPrefixes: readonly string[] = [],
): Promise<void> {
  if (!token) return;
  // `rfc6749`: the scheme name is matched case-insensitively (`bearer <token>` too), as HTTP says of every
  // authentication scheme (RFC 9110 §11.1); the plugin's default, `rfc6750`, refuses anything but `Bearer`.
  await app.register(bearerAuth, {
    keys: [token],
    addHook: false,
    verifyErrorLogLevel: 'info',
    specCompliance: 'rfc6749',
  });
  const verify = app.verifyBearerAuth!;
  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.config?.public || request.is404) return done();
    const read = request.method === 'GET' || request.method === 'HEAD';
    if (read && publicPrefixes.some((p) => request.url.startsWith(p))) return done();
    verify(request, reply, done);
  });
}
