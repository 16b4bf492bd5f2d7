/** The app running with `embedder.kind = openai` against a tiny local server speaking the embeddings API. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HashingEmbedder } from '@dualwrite/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApp } from './helpers.js';

const DIM = 16;
const hashing = new HashingEmbedder({ dimension: DIM });
let server: Server;
let baseUrl: string;
let calls = 0;
/** While set, the embeddings server answers every request with a 500. */
let failing = false;
/** While set, the embeddings server never answers (`hung` counts the requests it holds). */
let hanging = false;
let hung = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      calls++;
      if (hanging) {
        hung++;
        return;
      }
      if (failing) {
        res.statusCode = 500;
        res.end(JSON.stringify({ error: { message: 'model unavailable' } }));
        return;
      }
      const { input, model } = JSON.parse(raw) as { input: string[]; model: string };
      // A query containing "short-vector" gets a vector one component short: the embedder's fault.
      const data = input.map((text, index) => ({
        object: 'embedding',
        index,
        embedding: text.includes('short-vector') ? hashing.embedOne(text).slice(1) : hashing.embedOne(text),
      }));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ object: 'list', data, model }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

it('serves the app with embedder.kind = openai', async () => {
  const app = await startApp({
    strategy: { name: 'async-queue' },
    embedder: { kind: 'openai', baseUrl, model: 'test-embed', apiKey: 'sk-test', dimension: DIM },
  });
  try {
    await app.request('POST', '/summaries', {
      summaries: [
        { targetFqn: 'lib.io.read_file', summary: 'Reads a file from disk into memory', level: 'method' },
        { targetFqn: 'lib.net.fetch_url', summary: 'Downloads a URL over HTTP', level: 'method' },
      ],
    });
    await app.request('POST', '/sync/flush');
    const r = await app.request('POST', '/search', { text: 'read file from disk', k: 1 });
    expect(r.body.hits[0].targetFqn).toBe('lib.io.read_file');
    expect((await app.request('GET', '/sync/status')).body.backends.embedder).toContain(
      'openai-compatible test-embed',
    );
    expect(calls).toBeGreaterThan(0);
    const wrong = await app.request('POST', '/search', { text: 'short-vector please', k: 1 });
    expect(wrong.status, "the embedder's wrong answer is the service's fault, not the request's").toBe(502);
    expect(wrong.body.error.field).toBeUndefined();
  } finally {
    await app.stop();
  }
});

it('is not ready while delivery finds the embedder down, and ready again once it answers', async () => {
  const app = await startApp({
    strategy: { name: 'async-queue' },
    embedder: { kind: 'openai', baseUrl, model: 'test-embed', apiKey: 'sk-test', dimension: DIM },
  });
  const until = async (check: () => Promise<boolean>, what: string) => {
    const deadline = Date.now() + 20_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    expect((await app.request('GET', '/ready')).status).toBe(200);
    failing = true;
    await app.request('POST', '/summaries', {
      summaries: [{ targetFqn: 'lib.io.write_file', summary: 'Writes a file to disk', level: 'method' }],
    });
    await until(
      async () => (await app.request('GET', '/sync/status')).body.downBackend === 'embedder',
      'delivery to find the embedder down',
    );
    const notReady = await app.request('GET', '/ready');
    expect(notReady.status).toBe(503);
    expect(notReady.body.checks).toMatchObject({ vector: { ok: true }, embedder: { ok: false } });
    failing = false;
    await until(async () => (await app.request('GET', '/ready')).status === 200, 'ready again');
    await app.request('POST', '/sync/flush');
    expect((await app.request('GET', '/sync/status')).body).toMatchObject({
      downBackend: null,
      outboxDepth: 0,
      deadLetters: 0,
    });
  } finally {
    failing = false;
    await app.stop();
  }
});

it('a search stuck on an embedder that never answers does not hold shutdown past the request grace', async () => {
  const app = await startApp({
    strategy: { name: 'async-queue' },
    embedder: {
      kind: 'openai',
      baseUrl,
      model: 'test-embed',
      apiKey: 'sk-test',
      dimension: DIM,
      timeoutMs: 120_000,
    },
    shutdown: { requestGraceMs: 300 },
  });
  try {
    hanging = true;
    const search = app.request('POST', '/search', { text: 'never embedded', k: 1 }).then(
      (r) => `HTTP ${r.status}`,
      (error: Error) => `failed: ${error.message}`,
    );
    while (hung === 0) await new Promise((r) => setTimeout(r, 20));
    const started = Date.now();
    await app.server.close({ drain: false, timeoutMs: 1_000 });
    expect(Date.now() - started, 'closed without waiting out the embedder timeout').toBeLessThan(10_000);
    // The stuck request's connection was closed: its client sees that, not a hang.
    expect(await search).toMatch(/^failed/);
  } finally {
    hanging = false;
    await app.stop();
  }
}, 30_000);
