import { type LocalChroma, startLocalChroma } from '@dualwrite/chroma/local-server';
import { openVector } from '@dualwrite/config';
import type { VectorBackendSetup } from './create-backends.js';
import type { VectorBackend } from './vector-backends.js';

/**
 * Chroma over HTTP, one new collection per run (deleted afterwards). Uses `setup.chromaUrl` when given;
 * otherwise starts a local server with `startLocalChroma()` (temp data dir) and stops it in `shutdown()`.
 * The server is another process: its memory is not in the runs' peak RSS.
 */
export async function chromaBackend(setup: VectorBackendSetup): Promise<VectorBackend> {
  let server: LocalChroma | undefined;
  let url = setup.chromaUrl;
  if (!url) {
    setup.log('starting a local Chroma server (startLocalChroma)...');
    const started = performance.now();
    server = await startLocalChroma({ timeoutMs: 120_000, runtime: { log: setup.log } });
    url = server.url;
    setup.log(
      `Chroma server ${url} ready in ${((performance.now() - started) / 1000).toFixed(1)} s (pid ${server.pid})`,
    );
  }
  const base = url.replace(/\/+$/, '');
  return {
    name: 'chroma',
    url: base,
    async open(runId, dimension) {
      const collection = runId.replace(/[^a-zA-Z0-9._-]/g, '-');
      const { store } = await openVector({ kind: 'chroma', chromaUrl: base, collection }, dimension);
      return {
        store,
        location: { kind: 'chroma', url: base, collection },
        async dispose() {
          await store.close();
          await deleteCollection(base, collection);
        },
      };
    },
    async shutdown() {
      await server?.stop();
      server = undefined;
    },
  };
}

/** Drops a collection (`DELETE /api/v2/.../collections/<name>`); a missing one is fine. */
async function deleteCollection(url: string, name: string): Promise<void> {
  const response = await fetch(
    `${url}/api/v2/tenants/default_tenant/databases/default_database/collections/${encodeURIComponent(name)}`,
    { method: 'DELETE', signal: AbortSignal.timeout(30_000) },
  );
  await response.arrayBuffer();
  if (!response.ok && response.status !== 404)
    throw new Error(`deleting Chroma collection ${name}: HTTP ${response.status}`);
}
