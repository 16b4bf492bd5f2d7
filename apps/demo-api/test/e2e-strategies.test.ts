/**
 * End-to-end over real HTTP: the real app (Fastify + dualwrite + SQLite + LanceDB or a local Chroma server)
 * listening on a free port, for each strategy. The vector store is wrapped in FaultyVectorStore through the
 * app factory's test-only hook to inject failures. The suite itself is in `strategy-suite.ts` (shared with
 * the PostgreSQL run).
 */
import { type LocalChroma, startLocalChroma } from '@dualwrite/chroma/local-server';
import { afterAll, beforeAll, describe } from 'vitest';
import { STRATEGIES, strategySuite } from './strategy-suite.js';

for (const strategy of STRATEGIES)
  strategySuite(strategy, { relational: { kind: 'sqlite' }, vector: 'lancedb' });

describe('with a local Chroma server', () => {
  let chroma: LocalChroma | undefined;
  beforeAll(async () => {
    chroma = await startLocalChroma();
  });
  afterAll(async () => {
    await chroma?.stop();
  });
  for (const strategy of STRATEGIES)
    strategySuite(strategy, {
      relational: { kind: 'sqlite' },
      vector: 'chroma',
      chromaUrl: () => chroma!.url,
    });
});
