import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeStrategySuite } from '@dualwrite/core/testing';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { PostgresRelationalStore } from '../src/index.js';
import { DATABASE_URL, dropSchema, schemaName } from './helpers.js';

// The three write strategies over a real PostgreSQL schema (fresh per fixture) and a real LanceDB directory.
writeStrategySuite('postgres+lancedb', async ({ dimension }) => {
  const dir = await mkdtemp(join(tmpdir(), 'dw-pg-strategy-'));
  const schema = schemaName();
  return {
    open: async () => ({
      relational: new PostgresRelationalStore({ connectionString: DATABASE_URL, schema, poolSize: 4 }),
      vector: await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension }),
    }),
    cleanup: async () => {
      await dropSchema(schema);
      await rm(dir, { recursive: true, force: true });
    },
  };
});
