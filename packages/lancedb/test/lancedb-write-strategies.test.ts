import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeStrategySuite } from '@dualwrite/core/testing';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { LanceDbVectorStore } from '../src/index.js';

// The three write strategies over a real SQLite file and a real LanceDB directory.
writeStrategySuite('sqlite+lancedb', async ({ dimension }) => {
  const dir = await mkdtemp(join(tmpdir(), 'dw-strategy-'));
  return {
    open: async () => ({
      relational: new SqliteRelationalStore({ path: join(dir, 'source.db') }),
      vector: await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension }),
    }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
