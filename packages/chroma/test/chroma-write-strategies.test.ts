import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeStrategySuite } from '@dualwrite/core/testing';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { ChromaVectorStore } from '../src/index.js';
import { chromaUrl, dropCollection, uniqueCollection } from './helpers.js';

// The write strategies over a real SQLite file and the real local Chroma server from global-setup.ts.
writeStrategySuite(
  'sqlite+chroma',
  async ({ dimension }) => {
    const dir = await mkdtemp(join(tmpdir(), 'dw-chroma-strategy-'));
    const collection = uniqueCollection('strategy');
    return {
      open: async () => ({
        relational: new SqliteRelationalStore({ path: join(dir, 'source.db') }),
        vector: await ChromaVectorStore.open({ url: chromaUrl(), collection, dimension }),
      }),
      cleanup: async () => {
        await dropCollection(chromaUrl(), collection);
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { strategies: ['async-queue', 'batch', 'sync-2pc'] },
);
