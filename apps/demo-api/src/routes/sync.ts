import Type from 'typebox';
import type { App, AppContext } from '../app-context.js';
import { API_ERRORS, SECURED } from '../http/responses.js';
import {
  DeadLetterPage,
  DeadLetterQuery,
  FlushBody,
  FlushResponse,
  HistoryResponse,
  ReconcileBody,
  ReconcileResponse,
  RequeueBody,
  RequeueResponse,
  SyncStatusResponse,
} from '../http/schemas.js';

const PausedResponse = Type.Object({ paused: Type.Boolean() });

/** `/sync/*`: the operator's view of the outbox — status, flush, reconcile, dead letters, pause/resume. */
export function syncRoutes(app: App, ctx: AppContext): void {
  const { dw } = ctx;

  app.get(
    '/sync/status',
    {
      schema: {
        tags: ['sync'],
        summary: 'Outbox depth, lag, dead letters, strategy, backends and delivery counters',
        response: { 200: SyncStatusResponse, ...API_ERRORS },
        security: SECURED,
      },
    },
    async () => {
      const s = await dw.stats();
      return {
        strategy: s.strategy,
        backends: ctx.backends.describe,
        outboxDepth: s.outboxDepth,
        inFlight: s.inFlight,
        deadLetters: s.deadLetters,
        oldestPendingAgeMs: s.oldestPendingAgeMs,
        paused: s.paused,
        deliveryStopped: s.deliveryStopped,
        backendDown: s.backendDown,
        downBackend: s.downBackend,
        counters: {
          vectorCalls: s.vectorCalls,
          vectorRecords: s.vectorRecords,
          retries: s.retries,
          deadLettered: s.deadLettered,
          synced: s.synced,
          embedderCalls: s.embedderCalls,
          embeddedTexts: s.embeddedTexts,
          embeddingCacheHits: s.embeddingCacheHits,
          embeddingCacheEvicted: s.embeddingCacheEvicted,
          compensations: s.compensations,
        },
        summaries: await ctx.summaries.count(),
      };
    },
  );

  app.get(
    '/sync/history',
    {
      schema: {
        tags: ['sync'],
        summary: 'Recent samples of outbox depth, lag, dead letters and throughput (for the dashboard)',
        response: { 200: HistoryResponse, ...API_ERRORS },
        security: SECURED,
      },
    },
    async () => ({ intervalMs: ctx.telemetry.history.intervalMs, samples: ctx.telemetry.history.samples() }),
  );

  app.post(
    '/sync/flush',
    {
      schema: {
        tags: ['sync'],
        summary: 'Wait until every write accepted so far is in the index (or dead-lettered)',
        description:
          '503 with `Retry-After` when writes are still pending after `timeoutMs`; they stay in the outbox.',
        body: FlushBody,
        response: { 200: FlushResponse, ...API_ERRORS },
        security: SECURED,
      },
    },
    async (request) => dw.flush({ timeoutMs: request.body.timeoutMs ?? 30_000 }),
  );

  app.post(
    '/sync/reconcile',
    {
      schema: {
        tags: ['sync'],
        summary: 'Compare the index with the source of truth and (unless dryRun) enqueue repairs',
        body: ReconcileBody,
        response: { 200: ReconcileResponse, ...API_ERRORS },
        security: SECURED,
      },
    },
    async (request) => {
      const body = request.body;
      return dw.reconcile({
        mode: body.mode ?? 'full',
        dryRun: body.dryRun ?? false,
        ...(body.sampleRate === undefined ? {} : { sampleRate: body.sampleRate }),
      });
    },
  );

  app.get(
    '/sync/dead-letters',
    {
      schema: {
        tags: ['sync'],
        summary: 'Dead letters (changes the index rejected) with their errors, paged by fqn',
        querystring: DeadLetterQuery,
        response: { 200: DeadLetterPage, ...API_ERRORS },
        security: SECURED,
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 100;
      const entries = await dw.listDeadLetters({ after: request.query.after, limit: limit + 1 });
      const page = entries.slice(0, limit);
      return {
        items: page.map((e) => ({
          targetFqn: e.recordId,
          version: e.version,
          op: e.op,
          attempts: e.attempts,
          lastError: e.lastError,
          enqueuedAt: e.enqueuedAt,
        })),
        nextCursor: entries.length > limit ? page.at(-1)!.recordId : null,
      };
    },
  );

  app.post(
    '/sync/dead-letters/requeue',
    {
      schema: {
        tags: ['sync'],
        summary: 'Move dead letters (all, or `ids`) back to pending',
        body: RequeueBody,
        response: { 200: RequeueResponse, ...API_ERRORS },
        security: SECURED,
      },
    },
    async (request) => ({ requeued: await dw.requeueDeadLetters(request.body.ids) }),
  );

  app.post(
    '/sync/pause',
    {
      schema: {
        tags: ['sync'],
        summary: 'Pause delivery to the index (writes are still accepted into the outbox)',
        response: { 200: PausedResponse, ...API_ERRORS },
        security: SECURED,
      },
    },
    async () => {
      dw.pause();
      return { paused: true };
    },
  );

  app.post(
    '/sync/resume',
    {
      schema: {
        tags: ['sync'],
        summary: 'Resume delivery to the index',
        response: { 200: PausedResponse, ...API_ERRORS },
        security: SECURED,
      },
    },
    async () => {
      dw.resume();
      return { paused: false };
    },
  );
}
