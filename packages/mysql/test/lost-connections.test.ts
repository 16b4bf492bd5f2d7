/**
 * The pool's idle connections killed (`KILL`, a server restart, `wait_timeout`) before the driver read the news:
 * the first reads after it took those connections from the pool and failed with `BackendUnavailableError` while
 * the server was up. A read, or a transaction's BEGIN, now runs again on a new connection.
 */
import { checkLostConnections } from '@dualwrite/sql/testing';
import type { RowDataPacket } from 'mysql2';
import { createConnection } from 'mysql2/promise';
import { afterEach, describe, it } from 'vitest';
import { MysqlRelationalStore } from '../src/index.js';
import { MYSQL_SERVER_URL, testDatabase } from './helpers.js';

const POOL = 2;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('MysqlRelationalStore: idle connections killed by the server', () => {
  it('the next reads and BEGINs run again on new connections', async () => {
    const database = await testDatabase();
    cleanups.push(() => database.drop());
    const store = new MysqlRelationalStore({ connectionString: database.url, poolSize: POOL });
    cleanups.push(() => store.close());
    const admin = await createConnection({ uri: MYSQL_SERVER_URL });
    cleanups.push(() => admin.end());
    await store.init();
    await checkLostConnections({
      store,
      poolSize: POOL,
      killPool: async () => {
        const [rows] = await admin.query<RowDataPacket[]>(
          'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
          [database.name],
        );
        for (const { id } of rows) await admin.query(`KILL CONNECTION ${Number(id)}`);
        return rows.length;
      },
    });
  });
});
