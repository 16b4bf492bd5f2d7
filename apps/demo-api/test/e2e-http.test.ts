/**
 * HTTP behaviour over real HTTP (batch strategy, SQLite + LanceDB): bearer auth, validation errors naming
 * the field, 413, request ids, backpressure 503, the OpenAPI document.
 */
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type Started, startApp, summary } from './helpers.js';

const TOKEN = 'test-token-0123456789';
const BODY_LIMIT = 4_096;

describe('HTTP behaviour', () => {
  let app: Started;
  let anonymous: ReturnType<typeof client>;

  beforeAll(async () => {
    app = await startApp(
      {
        server: { authToken: TOKEN, bodyLimitBytes: BODY_LIMIT },
        backpressure: { maxDepth: 3, mode: 'fail' },
      },
      { token: TOKEN },
    );
    anonymous = client(app.url);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('requires the bearer token on the API, not on probes, metrics, dashboard or OpenAPI', async () => {
    let r = await anonymous('GET', '/sync/status');
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toContain('Bearer');
    expect(r.body.error.code).toBe('UNAUTHORIZED');
    r = await anonymous(
      'PUT',
      '/summaries/a.b',
      { summary: 'x', level: 'method' },
      { authorization: 'Bearer wrong' },
    );
    expect(r.status).toBe(401);
    expect((await anonymous('POST', '/search', { text: 'x' })).status).toBe(401);
    expect((await app.request('GET', '/sync/status')).status).toBe(200);
    // The scheme name is case-insensitive (RFC 9110 §11.1); the token is not.
    for (const scheme of ['bearer', 'BEARER'])
      expect(
        (await anonymous('GET', '/sync/status', undefined, { authorization: `${scheme} ${TOKEN}` })).status,
        scheme,
      ).toBe(200);
    expect(
      (await anonymous('GET', '/sync/status', undefined, { authorization: `Bearer ${TOKEN.toUpperCase()}` }))
        .status,
    ).toBe(401);
    expect((await anonymous('HEAD', '/assets/app.js')).status).toBe(200);
    for (const path of [
      '/health',
      '/ready',
      '/metrics',
      '/',
      '/assets/app.js',
      '/assets/vendor/chart.umd.min.js',
      '/openapi.json',
    ])
      expect((await anonymous('GET', path)).status, path).toBe(200);
  });

  it('answers 400 naming the field for schema and domain validation errors', async () => {
    const cases: [string, string, unknown, string, string?][] = [
      [
        'POST',
        '/summaries',
        { summaries: [summary('a.b', 'x', 'function')] },
        'summaries[0].level',
        'method | class | module | package',
      ],
      [
        'POST',
        '/summaries',
        { summaries: [{ ...summary('a.b', 'x'), colour: 'red' }] },
        'summaries[0].colour',
      ],
      ['POST', '/summaries', { summaries: [{ targetFqn: 'a.b', level: 'method' }] }, 'summaries[0].summary'],
      ['POST', '/summaries', { summaries: [] }, 'summaries', '>= 1 items'],
      ['POST', '/summaries', {}, 'summaries'],
      ['POST', '/summaries', { summaries: [summary('a b', 'x')] }, 'summaries[0].targetFqn'],
      // control characters (PostgreSQL cannot store U+0000: it answered 500), bidi overrides, `.` and `..`
      ['POST', '/summaries', { summaries: [summary('a\u0000b', 'x')] }, 'summaries[0].targetFqn'],
      ['POST', '/summaries', { summaries: [summary('a\u202eb', 'x')] }, 'summaries[0].targetFqn'],
      ['POST', '/summaries', { summaries: [summary('..', 'x')] }, 'summaries[0].targetFqn'],
      ['GET', '/summaries/a%00b', undefined, 'fqn'],
      ['GET', '/summaries?cursor=AA', undefined, 'cursor'],
      // the router's own errors: a path that is not UTF-8, a parameter past its 2,048 characters
      ['GET', '/summaries/%FF', undefined, 'path'],
      ['GET', `/summaries/${'a'.repeat(3_000)}`, undefined, 'fqn', '<= 512 characters'],
      [
        'POST',
        '/summaries',
        { summaries: [summary('a.b', 'x'), summary('a.b', 'y')] },
        'summaries[1].targetFqn',
      ],
      ['PUT', '/summaries/a.b', { summary: 'x', level: 'method', stale: 'maybe' }, 'stale', 'boolean'],
      ['PUT', '/summaries/a.b', { targetFqn: 'c.d', summary: 'x', level: 'method' }, 'targetFqn'],
      [
        'PUT',
        '/summaries/a.b',
        { summary: 'x', level: 'method', embedding: [1, 2] },
        'embedding',
        'length === 384',
      ],
      ['GET', '/summaries?limit=0', undefined, 'limit', '>= 1'],
      // a misspelt query parameter is an error, not a filter silently dropped
      ['GET', '/summaries?limt=5', undefined, 'limt'],
      ['GET', '/sync/dead-letters?afer=x', undefined, 'afer'],
      ['GET', '/summaries?=x', undefined, '""'],
      ['GET', '/summaries?cursor=%%%', undefined, 'cursor'],
      ['GET', '/summaries?level=function', undefined, 'level'],
      ['POST', '/search', { k: 3 }, 'text'],
      ['POST', '/search', { text: 'x', embedding: [1] }, 'embedding'],
      ['POST', '/search', { text: 'x', k: 0 }, 'k', '>= 1'],
      ['POST', '/search', { text: 'x', k: '5' }, 'k', 'integer'], // bodies are not coerced
      ['POST', '/search', { text: 'x', filter: { language: 'go' } }, 'filter.language'],
      ['POST', '/sync/reconcile', { mode: 'everything' }, 'mode'],
      ['POST', '/sync/dead-letters/requeue', { ids: 'all' }, 'ids'],
    ];
    for (const [method, path, body, field, limit] of cases) {
      const r = await app.request(method, path, body);
      const where = `${method} ${path} ${JSON.stringify(body)} → ${JSON.stringify(r.body)}`;
      expect(r.status, where).toBe(400);
      expect(r.body.error.field, where).toBe(field);
      expect(r.body.error.message, where).toContain(field);
      expect(['VALIDATION', 'DIMENSION_MISMATCH'], where).toContain(r.body.error.code);
      if (limit) expect(r.body.error.limit, where).toBe(limit);
    }
    const r = await app.request('POST', '/summaries', '{"summaries": [', {
      'content-type': 'application/json',
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_JSON');
  });

  it('takes an empty body sent as JSON as no body; a malformed one is still a 400 (helper-54)', async () => {
    const empty = { 'content-type': 'application/json' };
    expect((await app.request('POST', '/sync/flush', '', empty)).status).toBe(200);
    expect((await app.request('DELETE', '/summaries/never.written', '', empty)).status).not.toBe(400);
    const broken = await app.request('POST', '/sync/flush', '{"timeoutMs":', empty);
    expect(broken.status).toBe(400);
  });

  it('refuses writes from another origin and requests naming another host (CSRF, DNS rebinding)', async () => {
    const foreign = await app.request('POST', '/sync/pause', undefined, { origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe('FORBIDDEN');
    const crossSite = await app.request('POST', '/sync/pause', undefined, { 'sec-fetch-site': 'cross-site' });
    expect(crossSite.status).toBe(403);
    const status = await app.request('GET', '/sync/status');
    expect(status.body.paused, 'nothing was paused').toBe(false);
    // The dashboard's own origin may write.
    const own = await app.request('POST', '/sync/resume', undefined, { origin: app.url });
    expect(own.status).toBe(200);
    const rebound = await new Promise<number>((resolve, reject) => {
      const url = new URL('/health', app.url);
      get(
        { host: url.hostname, port: url.port, path: url.pathname, headers: { host: 'attacker.example' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      ).on('error', reject);
    });
    expect(rebound, 'a Host that is not loopback while the service listens on loopback').toBe(403);
  });

  it('answers 413 for bodies over the limit', async () => {
    const r = await app.request('PUT', '/summaries/a.big', {
      summary: 'x'.repeat(BODY_LIMIT),
      level: 'method',
    });
    expect(r.status).toBe(413);
    expect(r.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', limit: `<= ${BODY_LIMIT} bytes` });
  });

  it('returns a request id, echoing the caller’s', async () => {
    let r = await app.request('GET', '/health');
    expect(r.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    r = await app.request('GET', '/nope', undefined, { 'x-request-id': 'trace-42' });
    expect(r.status).toBe(404);
    expect(r.headers.get('x-request-id')).toBe('trace-42');
    expect(r.body.error.requestId).toBe('trace-42');
  });

  it('answers 503 with Retry-After under backpressure', async () => {
    expect((await app.request('POST', '/sync/pause')).body).toEqual({ paused: true });
    try {
      for (let i = 0; i < 3; i++)
        expect(
          (await app.request('PUT', `/summaries/bp.item${i}`, { summary: `item ${i}`, level: 'module' }))
            .status,
        ).toBe(201);
      await new Promise((r) => setTimeout(r, 150)); // past the depth cache
      const r = await app.request('PUT', '/summaries/bp.item3', { summary: 'item 3', level: 'module' });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.body.error).toMatchObject({ code: 'BACKPRESSURE', retryable: true });
      expect((await app.request('GET', '/sync/status')).body).toMatchObject({ paused: true, outboxDepth: 3 });
    } finally {
      await app.request('POST', '/sync/resume');
    }
    expect((await app.request('POST', '/sync/flush')).body.pending).toBe(0);
    await new Promise((r) => setTimeout(r, 150));
    expect(
      (await app.request('PUT', '/summaries/bp.item3', { summary: 'item 3', level: 'module' })).status,
    ).toBe(201);
  });

  it('serves an OpenAPI document generated from the validating schemas', async () => {
    const r = await anonymous('GET', '/openapi.json');
    expect(r.body.openapi).toMatch(/^3\./);
    for (const path of [
      '/summaries',
      '/summaries/{fqn}',
      '/search',
      '/sync/status',
      '/sync/flush',
      '/sync/reconcile',
      '/sync/dead-letters',
      '/sync/dead-letters/requeue',
      '/health',
      '/ready',
      '/metrics',
    ])
      expect(r.body.paths, path).toHaveProperty([path]);
    const batch = r.body.paths['/summaries'].post.requestBody.content['application/json'].schema;
    expect(batch.properties.summaries.maxItems).toBe(1000);
    expect(batch.properties.summaries.items.properties.level.enum).toEqual([
      'method',
      'class',
      'module',
      'package',
    ]);
    expect(r.body.paths['/summaries'].post.security).toEqual([{ bearerAuth: [] }]);
    expect(r.body.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });
});
