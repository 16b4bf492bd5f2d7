import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeStrategySuite } from '@dualwrite/core/testing';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { MysqlRelationalStore } from '../src/index.js';
import { testDatabase } from './helpers.js';

// The three write strategies over a real MariaDB/MySQL database (fresh per fixture) and a real LanceDB directory.
writeStrategySuite('mysql+lancedb', async ({ dimension }) => {
  const dir = await mkdtemp(join(tmpdir(), 'dw-mysql-strategy-'));
  const database = await testDatabase();
  return {
    open: async () => ({
      relational: new MysqlRelationalStore({ connectionString: database.url, poolSize: 4 }),
      vector: await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension }),
    }),
    cleanup: async () => {
      await database.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
