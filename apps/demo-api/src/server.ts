import { randomUUID } from 'node:crypto';
import { deliveryOptions, strategyConfig } from '@dualwrite/config';
import { type CloseReport, createDualWrite, type DeliveryOptions, type DualWrite } from '@dualwrite/core';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import Fastify, { type FastifySchemaCompiler, type FastifyServerOptions } from 'fastify';
import type { App, AppContext } from './app-context.js';
import { type BackendHooks, type Backends, openBackends } from './backends/open-backends.js';
import type { ResolvedConfig } from './config/load.js';
import { installAuth } from './http/auth.js';
import { installErrorHandling, sendError } from './http/error-handler.js';
import { refuseCrossOrigin } from './http/same-origin.js';
import { Telemetry } from './metrics/telemetry.js';
import { ASSETS_PREFIX, dashboardRoutes } from './routes/dashboard.js';
import { openApiRoutes } from './routes/openapi.js';
import { opsRoutes } from './routes/ops.js';
import { searchRoutes } from './routes/search.js';
import { summaryRoutes } from './routes/summaries.js';
import { syncRoutes } from './routes/sync.js';
import { runSummaryMigrations } from './summaries/migrations.js';
import { SummaryService } from './summaries/summary-service.js';
import type { StoreKysely } from './summaries/table.js';

/** Test-only seams of {@link buildServer}; none of them is reachable from configuration. */
export interface TestHooks extends BackendHooks {
  /** Delivery knobs passed to `createDualWrite` (e.g. faster backoff in tests). */
  delivery?: Partial<DeliveryOptions>;
  /** Sampling period of the dashboard history, ms. */
  historyIntervalMs?: number;
  /** Pino options/stream override (e.g. to capture logs). */
  logger?: FastifyServerOptions['logger'];
}

/** A built (not yet listening) service. */
export interface DemoServer {
  app: App;
  ctx: AppContext;
  /**
   * Stops accepting requests, waits for in-flight ones up to `shutdown.requestGraceMs` (then closes their
   * connections), drains the outbox up to `timeoutMs` (when `drain`; default: unless delivery is paused,
   * `POST /sync/pause`) and closes both stores. What could not drain stays in the outbox for the next start.
   * Idempotent.
   */
  close(options?: { drain?: boolean; timeoutMs?: number }): Promise<CloseReport>;
}

async function openDualWrite(config: ResolvedConfig, backends: Backends, hooks: TestHooks) {
  try {
    const dw = await createDualWrite<StoreKysely>({
      relational: backends.relational,
      vector: backends.vector,
      embedder: backends.embedder,
      strategy: strategyConfig(config.strategy),
      delivery: { ...deliveryOptions(config.strategy), ...hooks.delivery },
      indexBinding: config.vector.indexBinding,
      embeddingCacheTtlMs: config.embedder.cacheTtlMs,
      ...(config.backpressure.maxDepth > 0
        ? {
            backpressure: {
              maxDepth: config.backpressure.maxDepth,
              mode: config.backpressure.mode,
              waitTimeoutMs: config.backpressure.waitTimeoutMs,
            },
          }
        : {}),
    });
    await runSummaryMigrations(dw.relational, backends.reader(), backends.storage);
    return dw;
  } catch (error) {
    await backends.vector.close().catch(() => {});
    await backends.relational.close().catch(() => {});
    throw error;
  }
}

/**
 * Request validation: JSON bodies are checked strictly (no type coercion: `"k": "5"` is a 400), query
 * strings and path params coerce scalars (`?limit=5`). Unknown body fields are errors naming the field,
 * not silently dropped; the first error is reported.
 */
function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const common = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false } as const;
  const body = new Ajv({ ...common, coerceTypes: false });
  const other = new Ajv({ ...common, coerceTypes: true });
  return ({ schema, httpPart }) => (httpPart === 'body' ? body : other).compile(schema as object);
}

function createFastify(config: ResolvedConfig, hooks: TestHooks): App {
  const app = Fastify({
    logger: hooks.logger ?? { level: config.server.logLevel },
    bodyLimit: config.server.bodyLimitBytes,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    routerOptions: { maxParamLength: 2_048 },
    // Errors the router raises before any hook (a URL that is not UTF-8, a path parameter past 2,048 characters)
    // get the same `{ error: { code, message, field, limit } }` body as every other error.
    frameworkErrors: (error, request, reply) =>
      sendError(error, request, reply, config.server.bodyLimitBytes),
    // While closing, requests still run and meet the closing facade: a typed 503 with Retry-After, not
    // Fastify's untyped one.
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler());
  return app;
}

/**
 * Builds the service from a validated config: opens the backends, creates the dualwrite facade (which
 * initialises the store schema and recovers what a previous run left in the outbox), migrates the
 * `summaries` table, and registers every route. Call `app.listen()` to serve.
 */
export async function buildServer(config: ResolvedConfig, hooks: TestHooks = {}): Promise<DemoServer> {
  const backends = await openBackends(config, hooks);
  const dw: DualWrite<StoreKysely> = await openDualWrite(config, backends, hooks);
  const telemetry = new Telemetry(dw, { historyIntervalMs: hooks.historyIntervalMs });
  const summaries = new SummaryService({
    dw,
    reader: backends.reader,
    storage: backends.storage,
    dimension: backends.vector.dimension,
  });
  const ctx: AppContext = { config, dw, summaries, telemetry, backends };

  const app = createFastify(config, hooks);
  try {
    installErrorHandling(app, config.server.bodyLimitBytes);
    // An empty body sent as JSON is no body (helper-54: Fastify's parser answered FST_ERR_CTP_EMPTY_JSON_BODY);
    // any other body goes to Fastify's own parser (prototype-poisoning checks included).
    const json = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      if (body === '') done(null, undefined);
      else json(request, body as string, done);
    });
    // POST routes whose body is optional (flush, reconcile, requeue): no body means `{}`.
    app.addHook('preValidation', async (request) => {
      if (request.method === 'POST' && (request.body === undefined || request.body === null))
        request.body = {};
    });
    app.addHook('onSend', async (request, reply) => {
      reply.header('x-request-id', String(request.id));
    });
    app.addHook('onResponse', async (request, reply) => {
      telemetry.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode);
    });
    refuseCrossOrigin(app, config.server.host);
    await installAuth(app, config.server.authToken, [ASSETS_PREFIX]);
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'dualwrite demo API: code summaries',
          description:
            'Stores natural-language summaries of code symbols in a relational database (source of truth) and ' +
            'a vector index kept consistent by dualwrite, and searches them. Errors are `{ error: { code, ' +
            'message, field?, limit? } }`.',
          version: '0.1.0',
        },
        components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
        tags: [
          { name: 'summaries', description: 'Create, read, list, delete summaries' },
          { name: 'search', description: 'Nearest summaries to a text or embedding' },
          { name: 'sync', description: 'Outbox status and operations' },
          { name: 'ops', description: 'Probes and metrics (no token needed)' },
        ],
      },
    });
    summaryRoutes(app, ctx);
    searchRoutes(app, ctx);
    syncRoutes(app, ctx);
    opsRoutes(app, ctx);
    openApiRoutes(app);
    await dashboardRoutes(app);
    await app.ready();
  } catch (error) {
    await app.close().catch(() => {});
    await dw.close({ drain: false }).catch(() => {});
    throw error;
  }
  telemetry.start();

  let closing: Promise<CloseReport> | undefined;
  return {
    app,
    ctx,
    close(options = {}) {
      closing ??= (async () => {
        await closeWithin(app, config.shutdown.requestGraceMs);
        telemetry.stop();
        // Drains unless delivery was paused (POST /sync/pause): an operator's pause holds through shutdown, and
        // the outbox keeps what is left for the next start.
        return dw.close({
          ...(options.drain === undefined ? {} : { drain: options.drain }),
          timeoutMs: options.timeoutMs ?? config.shutdown.drainTimeoutMs,
        });
      })();
      return closing;
    },
  };
}

/**
 * `app.close()`, but requests still running after `graceMs` have their connections closed: a request waiting on
 * a backend that never answers (a search whose embedder hangs, up to `embedder.timeoutMs`) held shutdown, and the
 * drain budget after it ran past the process's own deadline (helper-66). A write cut this way either committed
 * or did not; its client sees the connection close and retries (writes by id are idempotent).
 */
async function closeWithin(app: App, graceMs: number): Promise<void> {
  const timer = setTimeout(() => {
    app.log.warn({ graceMs }, 'requests still running after the grace period: closing their connections');
    app.server.closeAllConnections();
  }, graceMs);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
}
