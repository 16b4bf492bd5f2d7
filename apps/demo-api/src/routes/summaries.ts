import type { App, AppContext } from '../app-context.js';
import { ApiError } from '../http/api-error.js';
import { API_ERRORS, SECURED, WRITE_ERRORS } from '../http/responses.js';
import {
  EmbeddingFlagQuery,
  ErrorResponse,
  FqnParams,
  ListQuery,
  Summary,
  SummaryBatchBody,
  SummaryBatchResponse,
  SummaryPage,
  SummaryPutBody,
  SummaryWriteResponse,
  WriteOutcome,
} from '../http/schemas.js';
import type { WriteOp } from '../metrics/telemetry.js';

/** Runs a write, observing its latency in the `demo_api_write_duration_seconds` histogram. */
async function timed<T>(ctx: AppContext, op: WriteOp, records: number, fn: () => Promise<T>): Promise<T> {
  const started = process.hrtime.bigint();
  let ok = false;
  try {
    const out = await fn();
    ok = true;
    return out;
  } finally {
    ctx.telemetry.observeWrite(op, records, Number(process.hrtime.bigint() - started) / 1e9, ok);
  }
}

/**
 * `/summaries`: create/replace (one or many), read, list (cursor paging), delete. Every write is one
 * store transaction covering the `summaries` row and the dualwrite record + outbox entry.
 */
export function summaryRoutes(app: App, ctx: AppContext): void {
  app.post(
    '/summaries',
    {
      schema: {
        tags: ['summaries'],
        summary: 'Create or replace summaries (one or many, all in one transaction)',
        description:
          'Body: `{ "summaries": [ {...}, ... ] }` (1..1000). Each is created or replaced by `targetFqn`; ' +
          'an identical summary is a no-op (`changed: false`). 201 when at least one was created, else 200. ' +
          'A given `embedding` must have the service dimension; without one the configured embedder computes it.',
        body: SummaryBatchBody,
        response: { 200: SummaryBatchResponse, 201: SummaryBatchResponse, ...WRITE_ERRORS },
        security: SECURED,
      },
    },
    async (request, reply) => {
      const inputs = request.body.summaries;
      const results = await timed(ctx, 'batch', inputs.length, () =>
        ctx.summaries.write(inputs, (i) => `summaries[${i}].`),
      );
      return reply.status(results.some((r) => r.created) ? 201 : 200).send({ results });
    },
  );

  app.put(
    '/summaries/:fqn',
    {
      schema: {
        tags: ['summaries'],
        summary: 'Create or replace one summary',
        description:
          '201 when created, 200 when replaced (or unchanged). Idempotent: safe to retry after a 503.',
        params: FqnParams,
        body: SummaryPutBody,
        response: { 200: SummaryWriteResponse, 201: SummaryWriteResponse, ...WRITE_ERRORS },
        security: SECURED,
      },
    },
    async (request, reply) => {
      const { fqn } = request.params;
      const { targetFqn, ...rest } = request.body;
      if (targetFqn !== undefined && targetFqn !== fqn)
        throw ApiError.invalid('targetFqn', `must equal the path's fqn ${JSON.stringify(fqn)} when given`);
      const { outcome, summary } = await timed(ctx, 'put', 1, () =>
        ctx.summaries.put({ targetFqn: fqn, ...rest }),
      );
      return reply.status(outcome.created ? 201 : 200).send({ summary, outcome });
    },
  );

  app.delete(
    '/summaries/:fqn',
    {
      schema: {
        tags: ['summaries'],
        summary: 'Delete one summary (its vector is removed from the index by the strategy)',
        params: FqnParams,
        response: { 200: WriteOutcome, 404: ErrorResponse, ...API_ERRORS },
        security: SECURED,
      },
    },
    async (request) => timed(ctx, 'delete', 1, () => ctx.summaries.delete(request.params.fqn)),
  );

  app.get(
    '/summaries/:fqn',
    {
      schema: {
        tags: ['summaries'],
        summary: 'Read one summary',
        params: FqnParams,
        querystring: EmbeddingFlagQuery,
        response: { 200: Summary, 404: ErrorResponse, ...API_ERRORS },
        security: SECURED,
      },
    },
    async (request) => ctx.summaries.get(request.params.fqn, { embedding: request.query.embedding }),
  );

  app.get(
    '/summaries',
    {
      schema: {
        tags: ['summaries'],
        summary: 'List summaries by fqn, filtered by level and stale, paged by cursor',
        description: 'Pass `nextCursor` of a page as `cursor` to get the next one; `null` means last page.',
        querystring: ListQuery,
        response: { 200: SummaryPage, ...API_ERRORS },
        security: SECURED,
      },
    },
    async (request) => ctx.summaries.list(request.query),
  );
}
