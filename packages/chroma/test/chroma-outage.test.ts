/**
 * A Chroma server that goes away mid-run: typed, retryable errors while it is down, and the very same call
 * succeeds after it comes back on the same port and data directory. Uses its own servers (not the shared one).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalChroma, startLocalChroma } from '../src/chroma-local-server.js';
import { ChromaVectorStore } from '../src/chroma-vector-store.js';
import { record } from './helpers.js';

describe('server outage', () => {
  let dir: string;
  let server: LocalChroma | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dualwrite-chroma-outage-'));
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('stopped server → BackendUnavailableError; restarted on the same port and path → the same call succeeds', async () => {
    server = await startLocalChroma({ path: dir });
    const port = server.port;
    const store = await ChromaVectorStore.open({ url: server.url, collection: 'outage', dimension: 8 });
    await store.upsert([record('before', 1)]);

    await server.stop();
    const batch = [record('during-1', 2), record('during-2', 3)];
    for (const call of [() => store.upsert(batch), () => store.count(), () => store.ping()]) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({
        name: 'BackendUnavailableError',
        code: 'BACKEND_UNAVAILABLE',
        retryable: true,
        component: 'chroma',
      });
      expect((error as Error).message).toMatch(/ECONNREFUSED/);
    }

    server = await startLocalChroma({ path: dir, port });
    expect(server.port).toBe(port);
    await store.upsert(batch); // the same call, same store object
    expect(await store.count()).toBe(3); // data survived the restart
    expect([...(await store.getVersions(['before', 'during-1', 'during-2'])).keys()].sort()).toStrictEqual([
      'before',
      'during-1',
      'during-2',
    ]);
  });

  it('server killed (SIGKILL) during a large upsert → BackendUnavailableError, then the retry succeeds', async () => {
    server ??= await startLocalChroma({ path: dir });
    const port = server.port;
    const store = await ChromaVectorStore.open({ url: server.url, collection: 'killed', dimension: 8 });
    const records = Array.from({ length: 12_000 }, (_, i) => record(`k-${i}`, i, { version: i + 1 }));
    const pending = store.upsert(records).then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 300));
    process.kill(server.pid, 'SIGKILL');
    await server.stop(); // reaps the process
    const error = await pending;
    // Usually the in-flight request dies with the socket; if the whole upsert had already finished there is
    // nothing to assert about the error.
    console.log(
      `[chroma tests] upsert interrupted by SIGKILL: ${error === undefined ? 'had already finished' : String(error)}`,
    );
    if (error !== undefined)
      expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE', retryable: true, component: 'chroma' });

    server = await startLocalChroma({ path: dir, port });
    await store.upsert(records);
    expect(await store.count()).toBe(records.length);
  }, 120_000);

  it('server frozen (SIGSTOP) with a request in flight: close() cancels it (ClosedError), nothing left waiting', async () => {
    server ??= await startLocalChroma({ path: dir });
    const store = await ChromaVectorStore.open({
      url: server.url,
      collection: 'frozen',
      dimension: 8,
      requestTimeoutMs: 120_000,
    });
    process.kill(server.pid, 'SIGSTOP');
    try {
      const pending = store.upsert([record('f-1', 1)]).then(
        () => undefined,
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 200));
      await store.close();
      // Well before the 120 s request timeout: the test's own timeout (30 s) fails it otherwise.
      expect(await pending).toMatchObject({ code: 'CLOSED', component: 'chroma' });
    } finally {
      process.kill(server.pid, 'SIGCONT');
    }
  }, 30_000);
});
