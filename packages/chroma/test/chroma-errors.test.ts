/**
 * HTTP error mapping, timeouts and headers, against a tiny fake Chroma (node:http) so every status code can
 * be produced on demand. No real Chroma needed.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createChromaTransport,
  errorFromNetwork,
  errorFromResponse,
  parseRetryAfter,
} from '../src/chroma-errors.js';
import { findFreePort } from '../src/chroma-local-server.js';
import { toChromaWhere } from '../src/chroma-metadata.js';
import { ChromaVectorStore } from '../src/chroma-vector-store.js';
import { record } from './helpers.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let url: string;
let onRecords: Handler;
const seen: { method: string; path: string; headers: IncomingMessage['headers'] }[] = [];

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    seen.push({ method: req.method ?? '', path, headers: req.headers });
    req.resume();
    req.on('end', () => {
      if (path === '/api/v2/pre-flight-checks')
        return json(res, 200, { max_batch_size: 100, supports_base64_encoding: true });
      if (path === '/api/v2/heartbeat') return onRecords(req, res);
      if (
        req.method === 'POST' &&
        path === '/api/v2/tenants/default_tenant/databases/default_database/collections'
      )
        return json(res, 200, {
          id: '11111111-2222-3333-4444-555555555555',
          name: 'fake',
          tenant: 'default_tenant',
          database: 'default_database',
          configuration_json: { hnsw: { space: 'cosine' }, spann: null, embedding_function: null },
          metadata: null,
          dimension: null,
          log_position: 0,
          version: 0,
        });
      return onRecords(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

beforeEach(() => {
  seen.length = 0;
  onRecords = (_req, res) => json(res, 200, 0);
});

async function failure(fn: () => Promise<unknown>): Promise<Record<string, unknown>> {
  return fn().then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Record<string, unknown>,
  );
}

describe('HTTP status mapping (fake server)', () => {
  it('503 with Retry-After → TransientBackendError with status and retryAfterMs', async () => {
    onRecords = (_req, res) =>
      json(res, 503, { error: 'Unavailable', message: 'busy' }, { 'retry-after': '2' });
    const store = await ChromaVectorStore.open({ url, dimension: 8 });
    expect(store.maxBatchSize).toBe(100);
    // Guards the hook into chromadb's (untyped) apiClient: a chromadb upgrade that removes it fails here.
    expect(store.transportInstalled).toBe(true);
    const error = await failure(() => store.count());
    expect(error).toMatchObject({
      name: 'TransientBackendError',
      code: 'TRANSIENT_BACKEND',
      status: 503,
      retryAfterMs: 2000,
      retryable: true,
      component: 'chroma',
    });
    expect(String(error.message)).toContain('busy');
  });

  it('429 with an HTTP-date Retry-After → TransientBackendError', async () => {
    const when = new Date(Date.now() + 5_000).toUTCString();
    onRecords = (_req, res) =>
      json(res, 429, { error: 'RateLimit', message: 'slow down' }, { 'retry-after': when });
    const store = await ChromaVectorStore.open({ url, dimension: 8 });
    const error = await failure(() => store.upsert([record('a', 1)]));
    expect(error).toMatchObject({ code: 'TRANSIENT_BACKEND', status: 429, retryable: true });
    expect(error.retryAfterMs).toBeGreaterThan(3_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(5_000);
  });

  it('500 without a body → TransientBackendError', async () => {
    onRecords = (_req, res) => {
      res.writeHead(500);
      res.end();
    };
    const store = await ChromaVectorStore.open({ url, dimension: 8 });
    expect(await failure(() => store.count())).toMatchObject({ code: 'TRANSIENT_BACKEND', status: 500 });
  });

  it('400 / 413 / 422 → PermanentBackendError (not retryable) with the server message', async () => {
    for (const status of [400, 413, 422]) {
      onRecords = (_req, res) =>
        json(res, status, { error: 'InvalidArgumentError', message: `nope ${status}` });
      const store = await ChromaVectorStore.open({ url, dimension: 8 });
      const error = await failure(() => store.upsert([record('a', 1)]));
      expect(error).toMatchObject({
        name: 'PermanentBackendError',
        code: 'PERMANENT_BACKEND',
        status,
        retryable: false,
      });
      expect(String(error.message)).toContain(`nope ${status}`);
    }
  });

  it('401 / 403 → BackendUnavailableError (a credentials problem is not the record’s fault)', async () => {
    for (const status of [401, 403]) {
      onRecords = (_req, res) => json(res, status, { error: 'AuthError', message: 'bad token' });
      const store = await ChromaVectorStore.open({ url, dimension: 8 });
      expect(await failure(() => store.count())).toMatchObject({
        code: 'BACKEND_UNAVAILABLE',
        retryable: true,
      });
    }
  });

  it('a request slower than requestTimeoutMs → TransientBackendError (timeout)', async () => {
    onRecords = (_req, res) => {
      setTimeout(() => json(res, 200, 0), 1_000);
    };
    const store = await ChromaVectorStore.open({ url, dimension: 8, requestTimeoutMs: 150 });
    const error = await failure(() => store.count());
    expect(error).toMatchObject({ code: 'TRANSIENT_BACKEND', retryable: true });
    expect(String(error.message)).toMatch(/timed out after 150 ms/);
  });

  it('ping maps heartbeat failures', async () => {
    onRecords = (_req, res) => json(res, 502, { message: 'bad gateway' });
    const store = await ChromaVectorStore.open({ url, dimension: 8 });
    expect(await failure(() => store.ping())).toMatchObject({ code: 'TRANSIENT_BACKEND', status: 502 });
  });

  it('sends the auth token, custom headers, and keeps a URL path prefix', async () => {
    const store = await ChromaVectorStore.open({
      url,
      dimension: 8,
      auth: { token: 's3cret' },
      headers: { 'X-Extra': 'yes' },
    });
    await store.count();
    const request = seen.find((s) => s.path.endsWith('/count'))!;
    expect(request.headers['x-chroma-token']).toBe('s3cret');
    expect(request.headers['x-extra']).toBe('yes');

    const bearer = await ChromaVectorStore.open({
      url,
      dimension: 8,
      auth: { token: 't', header: 'authorization' },
    });
    await bearer.count();
    expect(seen.filter((s) => s.path.endsWith('/count')).at(-1)!.headers.authorization).toBe('Bearer t');

    seen.length = 0;
    const prefixed = await ChromaVectorStore.open({
      url: `${url}/proxy/chroma/`,
      dimension: 8,
      maxBatchSize: 10,
    });
    await prefixed.count().catch(() => undefined);
    expect(seen.length).toBeGreaterThan(0);
    for (const s of seen) expect(s.path.startsWith('/proxy/chroma/api/v2/')).toBe(true);
  });
});

describe('unreachable server', () => {
  it('open() → BackendUnavailableError (ECONNREFUSED) without an override', async () => {
    const port = await findFreePort();
    const error = await failure(() =>
      ChromaVectorStore.open({ url: `http://127.0.0.1:${port}`, dimension: 8 }),
    );
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE', retryable: true, component: 'chroma' });
    expect(String(error.message)).toMatch(/ECONNREFUSED/);
  });

  it('open() succeeds with a maxBatchSize override; calls fail until the server exists', async () => {
    const port = await findFreePort();
    const store = await ChromaVectorStore.open({
      url: `http://127.0.0.1:${port}`,
      dimension: 8,
      maxBatchSize: 50,
    });
    expect(store.maxBatchSize).toBe(50);
    expect(await failure(() => store.count())).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(await failure(() => store.upsert([record('a', 1)]))).toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
    });
  });
});

describe('options and helpers', () => {
  it('validates options', async () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ url: 'not a url', dimension: 8 }, 'options.url'],
      [{ url: 'ftp://x', dimension: 8 }, 'options.url'],
      [{ url, dimension: 0 }, 'options.dimension'],
      [{ url, dimension: 8, collection: 'a' }, 'options.collection'],
      [{ url, dimension: 8, collection: 'bad name!' }, 'options.collection'],
      [{ url, dimension: 8, collection: '10.0.0.1' }, 'options.collection'],
      [{ url, dimension: 8, distance: 'dot' }, 'options.distance'],
      [{ url, dimension: 8, maxBatchSize: 0 }, 'options.maxBatchSize'],
      // Past what a Node.js timer holds: every request timed out after 1 ms (2^31), or threw a RangeError (2^32).
      [{ url, dimension: 8, requestTimeoutMs: 2 ** 31 }, 'options.requestTimeoutMs'],
      [{ url, dimension: 8, requestTimeoutMs: 2 ** 32 }, 'options.requestTimeoutMs'],
      [{ url, dimension: 8, auth: { token: '' } }, 'options.auth.token'],
      [{ url, dimension: 8, auth: { token: 't', header: 'Authorization' } }, 'options.auth.header'],
      // Misspelled options are refused, not ignored.
      [{ url, dimension: 8, requestTimeoutMS: 5 }, 'options.requestTimeoutMS'],
      [{ url, dimension: 8, auth: { token: 't', headr: 'authorization' } }, 'options.auth.headr'],
    ];
    for (const [options, field] of bad)
      expect(await failure(() => ChromaVectorStore.open(options as never))).toMatchObject({
        code: 'VALIDATION',
        field,
      });
  });

  it('parses Retry-After', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter(new Date(1_000).toUTCString(), 4_000)).toBe(0);
  });

  it('classifies network errors and responses', () => {
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
    });
    expect(errorFromNetwork(refused, 'GET /x', 1)).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    const timeout = new DOMException('timed out', 'TimeoutError');
    expect(errorFromNetwork(timeout, 'GET /x', 10)).toMatchObject({ code: 'TRANSIENT_BACKEND' });
    expect(
      errorFromResponse(
        400,
        '{"error":"InvalidArgumentError","message":"Collection expecting embedding with dimension of 3, got 2"}',
        null,
        'POST /u',
      ),
    ).toMatchObject({ code: 'DIMENSION_MISMATCH', expected: 3, actual: 2 });
    expect(errorFromResponse(404, 'plain text', null, 'GET /c')).toMatchObject({
      code: 'PERMANENT_BACKEND',
      status: 404,
    });
    // A collection being deleted (helper-44): not the record's fault, so never a dead letter.
    expect(
      errorFromResponse(
        412,
        '{"error":"ChromaError","message":"Missing field: [Missing metadata segment]"}',
        null,
        'POST /get',
      ),
    ).toMatchObject({ code: 'TRANSIENT_BACKEND', status: 412 });
    // The server lost the collection's vector segment (seen in CI): paused, never charged, and says what helps.
    const lost = errorFromResponse(
      500,
      '{"error":"InternalError","message":"Error executing plan: Internal error: Error creating hnsw segment reader: Nothing found on disk"}',
      null,
      'POST /get',
    );
    expect(lost).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(lost.message).toMatch(/Nothing found on disk\. .*restart the Chroma server/);
    expect(
      errorFromResponse(500, '{"error":"InternalError","message":"boom"}', null, 'POST /get'),
    ).toMatchObject({
      code: 'TRANSIENT_BACKEND',
      status: 500,
    });
  });

  it("tries a read again when the server could not read the collection's segment yet; never a write (helper-53)", async () => {
    const segmentLost = JSON.stringify({
      error: 'InternalError',
      message:
        'Error executing plan: Internal error: Error creating hnsw segment reader: Nothing found on disk',
    });
    const sent: string[] = [];
    let failures = 0;
    const transport = createChromaTransport({
      timeoutMs: 5_000,
      fetch: async (input) => {
        const request = input as Request;
        sent.push(`${new URL(request.url).pathname} ${await request.text()}`);
        return failures-- > 0
          ? new Response(segmentLost, { status: 500 })
          : new Response('{}', { status: 200 });
      },
    });
    const post = (path: string) =>
      new Request(`http://127.0.0.1:1/api/v2/collections/c${path}`, {
        method: 'POST',
        body: '{"ids":["a"]}',
      });
    failures = 2;
    expect((await transport(post('/get'))).status).toBe(200);
    expect(sent).toEqual(Array(3).fill('/api/v2/collections/c/get {"ids":["a"]}')); // the body sent each time
    sent.length = 0;
    failures = 10;
    await expect(transport(post('/query'))).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      message: expect.stringContaining('if it persists, restart the Chroma server'),
    });
    expect(sent).toHaveLength(4);
    sent.length = 0;
    failures = 1;
    await expect(transport(post('/upsert'))).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(sent, 'a write is sent once').toHaveLength(1);
  });

  it('translates equality filters into Chroma where clauses', () => {
    expect(toChromaWhere(undefined)).toBeUndefined();
    expect(toChromaWhere({})).toBeUndefined();
    expect(toChromaWhere({ a: 1 })).toStrictEqual({ a: { $eq: 1 } });
    expect(toChromaWhere({ a: 'x', b: true })).toStrictEqual({
      $and: [{ a: { $eq: 'x' } }, { b: { $eq: true } }],
    });
  });
});
