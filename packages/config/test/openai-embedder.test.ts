/** OpenAiEmbedder against a tiny local HTTP server speaking the OpenAI embeddings API. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BackendUnavailableError,
  DimensionMismatchError,
  HashingEmbedder,
  PermanentBackendError,
  TransientBackendError,
} from '@dualwrite/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenAiEmbedder, parseRetryAfter } from '../src/embedders/openai-embedder.js';

const DIM = 16;
const hashing = new HashingEmbedder({ dimension: DIM });

// biome-ignore lint/suspicious/noExplicitAny: request bodies are free-form JSON in this fake server
type Json = any;
type Handler = (body: Json, req: IncomingMessage, res: ServerResponse) => void;

/** Answers like OpenAI: `{ data: [{ index, embedding }] }`, in reverse order to test re-sorting. */
const ok: Handler = (body, _req, res) => {
  const inputs: string[] = body.input;
  const data = inputs
    .map((text, index) => ({ object: 'embedding', index, embedding: hashing.embedOne(text) }))
    .reverse();
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ object: 'list', data, model: body.model }));
};

describe('OpenAiEmbedder', () => {
  let server: Server;
  let baseUrl: string;
  let handler: Handler = ok;
  const seen: { body: Json; auth: string | undefined; url: string | undefined }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => {
        raw += c;
      });
      req.on('end', () => {
        const body = JSON.parse(raw || '{}');
        seen.push({ body, auth: req.headers.authorization, url: req.url });
        handler(body, req, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    handler = ok;
    seen.length = 0;
  });

  const embedder = (extra: Partial<ConstructorParameters<typeof OpenAiEmbedder>[0]> = {}) =>
    new OpenAiEmbedder({
      baseUrl,
      model: 'test-embed',
      apiKey: 'sk-test',
      dimension: DIM,
      timeoutMs: 2_000,
      ...extra,
    });

  it('posts to {baseUrl}/embeddings in batches and returns vectors in input order', async () => {
    const e = embedder({ maxBatchSize: 2 });
    const out = await e.embed(['alpha beta', 'gamma', 'delta epsilon']);
    expect(out).toEqual(['alpha beta', 'gamma', 'delta epsilon'].map((t) => hashing.embedOne(t)));
    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatchObject({
      url: '/v1/embeddings',
      auth: 'Bearer sk-test',
      body: { model: 'test-embed' },
    });
    expect(seen[0]!.body.dimensions).toBeUndefined();
    await embedder({ requestDimensions: true }).embed(['x']);
    expect(seen[2]!.body.dimensions).toBe(DIM);
    expect(e.id).toContain('test-embed');
  });

  it('maps 429 and 5xx to TransientBackendError with Retry-After', async () => {
    handler = (_b, _r, res) => {
      res.statusCode = 429;
      res.setHeader('retry-after', '3');
      res.end(JSON.stringify({ error: { message: 'slow down' } }));
    };
    const error = await embedder()
      .embed(['x'])
      .catch((e) => e);
    expect(error).toBeInstanceOf(TransientBackendError);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 3_000, retryable: true });
    expect(error.message).toContain('slow down');
    expect(error.message).not.toContain('sk-test');

    handler = (_b, _r, res) => {
      res.statusCode = 503;
      res.end('upstream down');
    };
    const e503 = await embedder()
      .embed(['x'])
      .catch((e) => e);
    expect(e503).toBeInstanceOf(TransientBackendError);
    expect(e503.status).toBe(503);
  });

  it('maps other 4xx and malformed answers to PermanentBackendError, wrong lengths to DimensionMismatchError', async () => {
    handler = (_b, _r, res) => {
      res.statusCode = 400;
      res.end(JSON.stringify({ error: { message: 'model not found' } }));
    };
    const e400 = await embedder()
      .embed(['x'])
      .catch((e) => e);
    expect(e400).toBeInstanceOf(PermanentBackendError);
    expect(e400).toMatchObject({ status: 400, retryable: false });
    expect(e400.message).toContain('model not found');

    handler = (_b, _r, res) => res.end('{"data": []}');
    expect(
      await embedder()
        .embed(['x'])
        .catch((e) => e),
    ).toBeInstanceOf(PermanentBackendError);

    handler = (_b, _r, res) => res.end(JSON.stringify({ data: [{ index: 0, embedding: [1, 2, 3] }] }));
    expect(
      await embedder()
        .embed(['x'])
        .catch((e) => e),
    ).toBeInstanceOf(DimensionMismatchError);
  });

  it('maps connection refused to BackendUnavailableError and a hang to TransientBackendError', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const refused = await new OpenAiEmbedder({
      baseUrl: `http://127.0.0.1:${port}/v1`,
      model: 'm',
      dimension: DIM,
    })
      .embed(['x'])
      .catch((e) => e);
    expect(refused).toBeInstanceOf(BackendUnavailableError);
    expect(refused.message).toContain('ECONNREFUSED');

    handler = () => {}; // never answers
    const hung = await embedder({ timeoutMs: 200 })
      .embed(['x'])
      .catch((e) => e);
    expect(hung).toBeInstanceOf(TransientBackendError);
    expect(hung.message).toContain('timed out');
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('2')).toBe(2_000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});
