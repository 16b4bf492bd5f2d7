import type { App } from '../app-context.js';

/** `GET /openapi.json`: the OpenAPI 3 document generated from the same schemas that validate requests. */
export function openApiRoutes(app: App): void {
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async (_request, reply) =>
    reply.type('application/json').send(app.swagger()),
  );
}
