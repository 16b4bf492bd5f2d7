import type { App, AppContext } from '../app-context.js';
import { API_ERRORS, SECURED } from '../http/responses.js';
import { SearchBody, SearchResponse } from '../http/schemas.js';

/** `POST /search`: nearest summaries to a text or an embedding. */
export function searchRoutes(app: App, ctx: AppContext): void {
  app.post(
    '/search',
    {
      schema: {
        tags: ['search'],
        summary: 'Semantic search over summaries',
        description:
          'Exactly one of `text` (embedded with the configured embedder) and `embedding`. `filter` narrows by ' +
          '`level` and/or `stale`. Results come from the source of truth: deleted summaries and hits whose ' +
          'indexed vector is older than the current summary are never returned. With the default `hashing` ' +
          'embedder similarity is lexical (shared words), not semantic.',
        body: SearchBody,
        response: { 200: SearchResponse, ...API_ERRORS },
        security: SECURED,
      },
    },
    async (request) => ({ hits: await ctx.summaries.search(request.body) }),
  );
}
