import Type from 'typebox';
import type { App, AppContext } from '../app-context.js';
import { HealthResponse, ReadyResponse } from '../http/schemas.js';

/** Longest a readiness probe waits for one backend, ms. */
const READY_TIMEOUT_MS = 3_000;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function check(fn: () => Promise<unknown>, what: string): Promise<{ ok: boolean; error?: string }> {
  try {
    await withTimeout(fn(), READY_TIMEOUT_MS, what);
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * Probes and metrics, open without the bearer token (they reveal no summary content):
 * `GET /health` (liveness: the process answers), `GET /ready` (both backends answer — a relational query
 * and `vector.ping()` — and delivery has not found the embedder down; 503 otherwise), `GET /metrics`
 * (Prometheus text format).
 */
export function opsRoutes(app: App, ctx: AppContext): void {
  app.get(
    '/health',
    {
      config: { public: true },
      schema: { tags: ['ops'], summary: 'Liveness', response: { 200: HealthResponse }, security: [] },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/ready',
    {
      config: { public: true },
      schema: {
        tags: ['ops'],
        summary: 'Readiness: the relational store answers a query and the vector store a ping',
        response: { 200: ReadyResponse, 503: ReadyResponse },
        security: [],
      },
    },
    async (_request, reply) => {
      const [relational, vector] = await Promise.all([
        check(() => ctx.summaries.ping(), 'relational store'),
        check(() => ctx.dw.vector.ping(), 'vector store'),
      ]);
      // The embedder is not called here (a probe per readiness check would cost a remote model call each time):
      // delivery's own probing says when it is down.
      const embedder =
        ctx.dw.strategy.stats().downBackend === 'embedder'
          ? { ok: false, error: 'embedder unreachable: delivery found it down and is probing it' }
          : { ok: true };
      const ok = relational.ok && vector.ok && embedder.ok;
      return reply
        .status(ok ? 200 : 503)
        .send({ status: ok ? 'ready' : 'not-ready', checks: { relational, vector, embedder } });
    },
  );

  app.get(
    '/metrics',
    {
      config: { public: true },
      schema: {
        tags: ['ops'],
        summary: 'Prometheus metrics (text exposition format)',
        produces: ['text/plain'],
        response: { 200: Type.String() },
        security: [],
      },
    },
    async (_request, reply) => {
      const body = await ctx.telemetry.render();
      return reply.type(ctx.telemetry.contentType).send(body);
    },
  );
}
