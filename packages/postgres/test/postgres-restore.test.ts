/**
 * A PostgreSQL source of truth restored from a `pg_dump` under a running process, the dump having lost updates of
 * older records, then written until its sequence is past the index's highest version: the next check finds it
 * and the repair brings the index back to the restored source (`checkRestoreFound`). Before, no check found it:
 * the index kept the lost states while everything said synced.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { checkRestoreFound } from '@dualwrite/sql/testing';
import { describe, it } from 'vitest';
import { PostgresRelationalStore } from '../src/index.js';
import { DATABASE_URL, dropSchema, schemaName } from './helpers.js';

const run = promisify(execFile);

describe('a source restored from a pg_dump under a running process', () => {
  // across: since the previous check, which ran while a transaction that drew its version before it was open.
  it.each(['before', 'since', 'across'] as const)(
    'a dump taken %s the previous check, its lost states on older records, is found and repaired',
    async (taken) => {
      const dir = await mkdtemp(join(tmpdir(), 'dw-pg-restore-'));
      const schema = schemaName();
      const dump = join(dir, 'dump.sql');
      try {
        await checkRestoreFound({
          relational: new PostgresRelationalStore({ connectionString: DATABASE_URL, schema, poolSize: 4 }),
          vector: await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: 16 }),
          taken,
          backup: async () =>
            void (await run('pg_dump', [
              '--dbname',
              DATABASE_URL,
              '--schema',
              schema,
              '--clean',
              '--if-exists',
              '--file',
              dump,
            ])),
          restore: async () =>
            void (await run('psql', [
              '--dbname',
              DATABASE_URL,
              '--quiet',
              '--set',
              'ON_ERROR_STOP=1',
              '--file',
              dump,
            ])),
        });
      } finally {
        await dropSchema(schema);
        await rm(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
