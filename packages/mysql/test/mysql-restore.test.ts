/**
 * A MariaDB/MySQL source of truth restored from a `mariadb-dump` (with its routines) under a running process, the
 * dump having lost updates of older records, then written until its sequence is past the index's highest version:
 * the next check finds it and the repair brings the index back to the restored source (`checkRestoreFound`).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { checkRestoreFound } from '@dualwrite/sql/testing';
import { describe, it } from 'vitest';
import { MysqlRelationalStore } from '../src/index.js';
import { MYSQL_SERVER_URL, testDatabase } from './helpers.js';

const run = promisify(execFile);

/** Client flags for the test server: host, port and user from its URL (no password, as the CI server). */
function clientFlags(): string[] {
  const url = new URL(MYSQL_SERVER_URL);
  return [
    `--host=${url.hostname}`,
    `--port=${url.port || 3306}`,
    `--user=${decodeURIComponent(url.username)}`,
  ];
}

describe('a source restored from a mariadb-dump under a running process', () => {
  // across: since the previous check, which ran while a transaction that drew its version before it was open.
  it.each(['before', 'since', 'across'] as const)(
    'a dump taken %s the previous check, its lost states on older records, is found and repaired',
    async (taken) => {
      const dir = await mkdtemp(join(tmpdir(), 'dw-mysql-restore-'));
      const database = await testDatabase();
      const dump = join(dir, 'dump.sql');
      try {
        await checkRestoreFound({
          relational: new MysqlRelationalStore({ connectionString: database.url, poolSize: 4 }),
          vector: await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: 16 }),
          taken,
          backup: async () =>
            void (await run('mariadb-dump', [
              ...clientFlags(),
              '--routines',
              // InnoDB's consistent snapshot, no LOCK TABLES: the default waited for the transaction left open.
              '--single-transaction',
              `--result-file=${dump}`,
              database.name,
            ])),
          restore: async () =>
            void (await run('mariadb', [...clientFlags(), database.name, `--execute=source ${dump}`])),
        });
      } finally {
        await database.drop();
        await rm(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
