/**
 * The end-to-end suite every backend combination runs (see `e2e-strategies.test.ts` for SQLite and
 * `e2e-postgres.test.ts` for PostgreSQL): create, read, update, list with a cursor, search, delete, status,
 * metrics, flush, reconcile, retries, dead letters and index outages, over real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Started, startApp, summary } from './helpers.js';

/** The write strategies, in the order their suites run. */
export const STRATEGIES = ['sync-2pc', 'async-queue', 'batch'] as const;
const DIM = 384;

function unit(i: number): number[] {
  const v = new Array<number>(DIM).fill(0);
  v[i] = 1;
  return v;
}

const SEED = [
  summary(
    'acme.config.Loader.load',
    'Reads the YAML configuration file from disk and returns parsed settings',
  ),
  summary('acme.config.Loader', 'Loads and validates application configuration', 'class'),
  summary('acme.http.Router.route', 'Matches an incoming HTTP request path against registered routes'),
  summary('acme.http', 'HTTP server with routing and middleware', 'package', { stale: true }),
];

/** The relational store a suite runs on. */
export type SuiteRelational =
  | { kind: 'sqlite' }
  | { kind: 'postgres'; url: string /** A fresh schema (the caller drops it afterwards). */; schema: string }
  | { kind: 'mysql'; url: string /** A fresh database (the caller drops it afterwards). */ };

const RELATIONAL_NAMES = { sqlite: 'SQLite', postgres: 'PostgreSQL', mysql: 'MySQL' } as const;

/**
 * The end-to-end suite of one strategy over one relational store and one vector store: the real app over
 * real HTTP, the vector store wrapped in FaultyVectorStore to inject failures.
 */
export function strategySuite(
  strategy: (typeof STRATEGIES)[number],
  backends: { relational: SuiteRelational; vector: 'lancedb' | 'chroma'; chromaUrl?: () => string },
) {
  const { relational, vector, chromaUrl } = backends;
  describe(`${strategy} over ${RELATIONAL_NAMES[relational.kind]} + ${vector}`, () => {
    let app: Started;

    beforeAll(async () => {
      app = await startApp({
        relational,
        strategy: { name: strategy, syncTimeoutMs: 1_500, maxDelayMs: 10 },
        vector:
          vector === 'chroma'
            ? { kind: 'chroma', chromaUrl: chromaUrl!(), collection: `summaries-${strategy}` }
            : { kind: 'lancedb' },
      });
    });
    afterAll(async () => {
      await app?.stop();
    });

    const flush = async () => {
      const r = await app.request('POST', '/sync/flush', { timeoutMs: 10_000 });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body as { pending: number; deadLetters: number };
    };
    const search = async (body: Record<string, unknown>) => {
      const r = await app.request('POST', '/search', body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body.hits as {
        targetFqn: string;
        summary: string;
        score: number;
        level: string;
        stale: boolean;
      }[];
    };

    it('creates, reads, updates, lists, searches and deletes summaries', async () => {
      const { request } = app;
      let r = await request('POST', '/summaries', { summaries: SEED });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body.results).toHaveLength(4);
      for (const result of r.body.results) {
        expect(result).toMatchObject({ created: true, changed: true });
        if (strategy === 'sync-2pc') expect(result.sync).toBe('synced');
      }
      expect((await flush()).pending).toBe(0);

      r = await request('GET', '/summaries/acme.config.Loader.load');
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ targetFqn: 'acme.config.Loader.load', level: 'method', stale: false });
      const created = r.body as { version: number; createdAt: number; updatedAt: number };
      // Numbers, not strings (PostgreSQL hands bigint columns back as strings).
      for (const key of ['version', 'createdAt', 'updatedAt'] as const)
        expect(typeof created[key], key).toBe('number');
      expect(Math.abs(created.createdAt - Date.now())).toBeLessThan(60_000);

      let hits = await search({ text: 'configuration file settings', k: 2 });
      expect(hits[0]?.targetFqn).toBe('acme.config.Loader.load');
      hits = await search({ text: 'http routing', k: 10, filter: { level: 'package' } });
      expect(hits.map((h) => h.targetFqn)).toEqual(['acme.http']);
      hits = await search({ text: 'http routing', k: 10, filter: { stale: true } });
      expect(hits.map((h) => h.targetFqn)).toEqual(['acme.http']);

      // Update: new version, createdAt kept.
      r = await request('PUT', '/summaries/acme.config.Loader.load', {
        summary: 'Parses the TOML settings file into a typed object',
        level: 'method',
      });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.outcome).toMatchObject({ created: false, changed: true });
      expect(r.body.summary.version).toBeGreaterThan(created.version);
      expect(r.body.summary.createdAt).toBe(created.createdAt);
      // Same content again: a no-op.
      r = await request('PUT', '/summaries/acme.config.Loader.load', {
        summary: 'Parses the TOML settings file into a typed object',
        level: 'method',
      });
      expect(r.body.outcome).toMatchObject({ created: false, changed: false });
      await flush();
      hits = await search({ text: 'TOML settings', k: 1 });
      expect(hits[0]).toMatchObject({
        targetFqn: 'acme.config.Loader.load',
        summary: 'Parses the TOML settings file into a typed object',
      });

      // Listing with a cursor and filters.
      r = await request('GET', '/summaries?limit=3');
      expect(r.body.items.map((s: { targetFqn: string }) => s.targetFqn)).toEqual([
        'acme.config.Loader',
        'acme.config.Loader.load',
        'acme.http',
      ]);
      r = await request('GET', `/summaries?limit=3&cursor=${encodeURIComponent(r.body.nextCursor)}`);
      expect(r.body.items.map((s: { targetFqn: string }) => s.targetFqn)).toEqual(['acme.http.Router.route']);
      expect(r.body.nextCursor).toBeNull();
      r = await request('GET', '/summaries?level=method&stale=false');
      expect(r.body.items).toHaveLength(2);

      // Delete: gone from reads and from search (no ghost), a second delete is 404.
      r = await request('DELETE', '/summaries/acme.http.Router.route');
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      if (strategy === 'sync-2pc') expect(r.body.sync).toBe('absent');
      expect((await request('GET', '/summaries/acme.http.Router.route')).status).toBe(404);
      hits = await search({ text: 'incoming HTTP request path registered routes', k: 10 });
      expect(hits.map((h) => h.targetFqn)).not.toContain('acme.http.Router.route');
      await flush();
      hits = await search({ text: 'incoming HTTP request path registered routes', k: 10 });
      expect(hits.map((h) => h.targetFqn)).not.toContain('acme.http.Router.route');
      r = await request('DELETE', '/summaries/acme.http.Router.route');
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('NOT_FOUND');
    });

    it('takes client embeddings (dimension checked) and searches by embedding', async () => {
      let r = await app.request('PUT', '/summaries/acme.vec.A', {
        summary: 'vector given by the client',
        level: 'class',
        embedding: [0.1, 0.2, 0.3],
      });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({
        code: 'DIMENSION_MISMATCH',
        field: 'embedding',
        limit: `length === ${DIM}`,
      });
      r = await app.request('POST', '/summaries', {
        summaries: [
          summary('acme.vec.B', 'fine'),
          summary('acme.vec.C', 'bad', 'method', { embedding: [1] }),
        ],
      });
      expect(r.status).toBe(400);
      expect(r.body.error.field).toBe('summaries[1].embedding');
      expect((await app.request('GET', '/summaries/acme.vec.B')).status).toBe(404); // all or nothing

      r = await app.request('PUT', '/summaries/acme.vec.A', {
        summary: 'vector given by the client',
        level: 'class',
        embedding: unit(7),
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      await flush();
      const hits = await search({ embedding: unit(7), k: 1 });
      expect(hits[0]?.targetFqn).toBe('acme.vec.A');
      expect(hits[0]!.score).toBeGreaterThan(0.99);
      r = await app.request('GET', '/summaries/acme.vec.A?embedding=true');
      expect(r.body.embedding).toHaveLength(DIM);
      expect(r.body.embedding[7]).toBeCloseTo(1);
    });

    it('reports status and metrics, and reconcile repairs drift', async () => {
      let r = await app.request('GET', '/sync/status');
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        strategy,
        outboxDepth: 0,
        deadLetters: 0,
        backendDown: false,
        paused: false,
        deliveryStopped: null,
      });
      expect(r.body.backends.vector).toContain(vector);
      expect(r.body.backends.relational).toContain(relational.kind);
      expect(r.body.counters.synced).toBeGreaterThan(0);
      expect(r.body.summaries).toBeGreaterThanOrEqual(4);

      // Drift behind dualwrite's back: a vector disappears from the index.
      await app.faulty.inner.delete(['acme.config.Loader']);
      r = await app.request('POST', '/sync/reconcile', { dryRun: true });
      expect(r.body).toMatchObject({ dryRun: true, missing: 1, repairsEnqueued: 0 });
      r = await app.request('POST', '/sync/reconcile', { mode: 'full' });
      expect(r.body).toMatchObject({ missing: 1, repairsEnqueued: 1 });
      await flush();
      r = await app.request('POST', '/sync/reconcile', { dryRun: true });
      expect(r.body).toMatchObject({ missing: 0, stale: 0, orphans: 0 });
      const hits = await search({ text: 'loads and validates application configuration', k: 1 });
      expect(hits[0]?.targetFqn).toBe('acme.config.Loader');

      r = await app.request('GET', '/metrics');
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toContain('text/plain');
      for (const name of [
        'demo_api_write_duration_seconds_bucket',
        'dualwrite_outbox_depth',
        'dualwrite_sync_lag_seconds',
        'dualwrite_vector_calls_total',
        'dualwrite_retries_total',
        'dualwrite_dead_letters',
      ])
        expect(r.body as string).toContain(name);
    });

    it('retries transient vector failures', async () => {
      app.faulty.failNext(2);
      const before = (await app.request('GET', '/sync/status')).body.counters.retries as number;
      const r = await app.request('PUT', '/summaries/acme.retry.X', {
        summary: 'retried write',
        level: 'module',
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      if (strategy === 'sync-2pc') expect(r.body.outcome.sync).toBe('synced');
      await flush();
      const status = (await app.request('GET', '/sync/status')).body;
      expect(status.counters.retries).toBeGreaterThanOrEqual(before + 1);
      expect(status.deadLetters).toBe(0);
      expect((await search({ text: 'retried write', k: 1 }))[0]?.targetFqn).toBe('acme.retry.X');
    });

    it('dead-letters a change the index rejects, lists it, and requeues it', async () => {
      app.faulty.poisonId('acme.poison.Thing');
      let r = await app.request('PUT', '/summaries/acme.poison.Thing', {
        summary: 'poisoned summary',
        level: 'class',
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201); // committed to the source of truth
      if (strategy === 'sync-2pc') {
        expect(r.body.outcome.sync).toBe('dead-lettered');
        expect(r.body.outcome.syncError).toContain('injected 400');
      }
      expect((await flush()).deadLetters).toBe(1);
      r = await app.request('GET', '/sync/dead-letters');
      expect(r.body.items).toHaveLength(1);
      expect(r.body.items[0]).toMatchObject({ targetFqn: 'acme.poison.Thing', op: 'upsert' });
      expect(r.body.items[0].lastError).toContain('injected 400');
      expect((await search({ text: 'poisoned summary', k: 10 })).map((h) => h.targetFqn)).not.toContain(
        'acme.poison.Thing',
      );

      app.faulty.curePoison();
      r = await app.request('POST', '/sync/dead-letters/requeue', { ids: ['acme.poison.Thing'] });
      expect(r.body).toEqual({ requeued: 1 });
      expect((await flush()).deadLetters).toBe(0);
      expect((await app.request('GET', '/sync/dead-letters')).body.items).toHaveLength(0);
      expect((await search({ text: 'poisoned summary', k: 1 }))[0]?.targetFqn).toBe('acme.poison.Thing');
    });

    if (strategy === 'sync-2pc')
      it('answers 503 with Retry-After while the index is unreachable, and recovers', async () => {
        app.faulty.setDown(true);
        try {
          // The write commits but cannot be confirmed in the index within syncTimeoutMs.
          let r = await app.request('PUT', '/summaries/acme.down.First', {
            summary: 'written during outage',
            level: 'method',
          });
          expect(r.status, JSON.stringify(r.body)).toBe(503);
          expect(r.headers.get('retry-after')).toBe('1');
          expect(r.body.error.code).toBe('BACKEND_UNAVAILABLE');
          // Now known down: refused at once, nothing written.
          const t0 = Date.now();
          r = await app.request('PUT', '/summaries/acme.down.Second', {
            summary: 'refused',
            level: 'method',
          });
          expect(r.status).toBe(503);
          expect(Date.now() - t0).toBeLessThan(1_000);
          expect((await app.request('GET', '/summaries/acme.down.Second')).status).toBe(404);
          r = await app.request('POST', '/search', { text: 'anything', k: 1 });
          expect(r.status).toBe(503);
          expect((await app.request('GET', '/ready')).status).toBe(503);
        } finally {
          app.faulty.setDown(false);
        }
        await flush();
        expect((await search({ text: 'written during outage', k: 1 }))[0]?.targetFqn).toBe('acme.down.First');
        expect((await app.request('GET', '/ready')).status).toBe(200);
      });
    else
      it('accepts writes while the index is unreachable and delivers them once it is back', async () => {
        app.faulty.setDown(true);
        try {
          const r = await app.request('PUT', '/summaries/acme.down.First', {
            summary: 'written during outage',
            level: 'method',
          });
          expect(r.status, JSON.stringify(r.body)).toBe(201);
          expect(r.body.outcome.sync).toBe('pending');
          expect((await app.request('POST', '/search', { text: 'outage', k: 1 })).status).toBe(503);
          expect((await app.request('GET', '/ready')).status).toBe(503);
        } finally {
          app.faulty.setDown(false);
        }
        await flush();
        expect((await search({ text: 'written during outage', k: 1 }))[0]?.targetFqn).toBe('acme.down.First');
      });
  });
}
