import { randomBytes } from 'node:crypto';
import type { RelationalStoreFixture } from '@dualwrite/core/testing';
import { runSqlStatement } from '@dualwrite/sql/testing';
import { createConnection } from 'mysql2/promise';
import { MysqlRelationalStore, type MysqlRelationalStoreOptions } from '../src/index.js';

/**
 * The test server: `DUALWRITE_TEST_MYSQL_URL`, default the CI server (`scripts/ci/ensure-mariadb.sh`:
 * 127.0.0.1:3306, root without password). Each fixture gets a database of its own on it.
 */
export const MYSQL_SERVER_URL = process.env.DUALWRITE_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

/** Runs statements on a short-lived connection of its own (no database selected) to `server`. */
export async function adminQuery(text: string, server = MYSQL_SERVER_URL): Promise<unknown> {
  const connection = await createConnection({ uri: server, multipleStatements: true });
  try {
    return (await connection.query(text))[0];
  } finally {
    await connection.end();
  }
}

/**
 * A fresh database `dw_test_<random>` on `server` (default the test server), with `charset` as its default
 * (default utf8mb4 / utf8mb4_bin); `url` points at it, `drop()` removes it.
 */
export async function testDatabase(
  server = MYSQL_SERVER_URL,
  charset = 'CHARACTER SET utf8mb4 COLLATE utf8mb4_bin',
): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `dw_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE \`${name}\` ${charset}`, server);
  return {
    name,
    url: `${server}/${name}`,
    drop: async () => void (await adminQuery(`DROP DATABASE IF EXISTS \`${name}\``, server)),
  };
}

/** Factory for the contract suite: every store gets its own fresh database, dropped in `cleanup()`. */
export function mysqlFactory(
  options: Partial<MysqlRelationalStoreOptions> = {},
  server = MYSQL_SERVER_URL,
): () => Promise<RelationalStoreFixture> {
  return async () => {
    const database = await testDatabase(server);
    const store = new MysqlRelationalStore({ connectionString: database.url, poolSize: 4, ...options });
    return {
      store,
      runStatement: runSqlStatement,
      async cleanup() {
        await store.close();
        await database.drop();
      },
    };
  };
}
