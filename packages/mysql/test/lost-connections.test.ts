/**
 * The pool's idle connections killed (`KILL`, a server restart, `wait_timeout`) before the driver read the news:
 * the first reads after it took those connections from the pool and failed with `BackendUnavailableError` while
 * the server was up. A read, or a transaction's BEGIN, now runs again on a new connection.
 */
import { createConnection } from 'mysql2/promise';
import { afterEach, describe, expect, it } from 'vitest';
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
    // A connection of its own, opened beforehand: the kills' answers come back at once, before the driver has
    // read what the server sent the pool's sockets.
    const admin = await createConnection({ uri: MYSQL_SERVER_URL });
    cleanups.push(() => admin.end());
    await store.init();
    await store.setMeta('k', 'v');
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: POOL }, () => store.getMeta('k')));
      const [rows] = await admin.query<import('mysql2').RowDataPacket[]>(
        'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
        [database.name],
      );
      expect(rows.length, `round ${round}: the pool's connections`).toBe(POOL);
      for (const { id } of rows) await admin.query(`KILL CONNECTION ${Number(id)}`);
      // A transaction (its BEGIN) and a read take the two dead connections; more reads follow.
      const [requeued, meta, stats, records] = await Promise.all([
        store.requeueDeadLetters(undefined, Date.now()),
        store.getMeta('k'),
        store.outboxStats(Date.now()),
        store.getRecords(['missing']),
      ]);
      expect(requeued).toBe(0);
      expect(meta).toBe('v');
      expect(stats.depth).toBe(0);
      expect(records.size).toBe(0);
    }
  });
});
