/**
 * A server whose `max_allowed_packet` is small (1 MiB; MySQL's minimum for a useful server, and what some hosted
 * servers and older configurations set): every store call that names many ids must split its messages by size,
 * not only the writes of large records. 2,500 ids of 500 bytes, half of them quotes, are about 1.9 MB inlined once — one statement
 * naming them all is refused by dropping the connection, which the store would report as an outage and the
 * caller retry forever. (The batch write's read did that before it was split: `ECONNRESET`.)
 */
import { createDualWrite } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlRelationalStore } from '../src/index.js';
import { testDatabase } from './helpers.js';
import { type PrivateMariadb, startPrivateMariadb } from './private-mariadb.js';

let server: PrivateMariadb | undefined;

beforeAll(async () => {
  server = await startPrivateMariadb(['--max-allowed-packet=1M']);
}, 120_000);
afterAll(async () => server?.destroy());

const N = 2_500;
const ids = Array.from({ length: N }, (_, i) => `${String(i).padStart(6, '0')}-${"q'".repeat(245)}`);

async function fixture() {
  if (!server) throw new Error('the private server did not start');
  const database = await testDatabase(server.url);
  const store = new MysqlRelationalStore({ connectionString: database.url, poolSize: 3 });
  await store.init();
  return {
    store,
    async done() {
      await store.close();
      await database.drop();
    },
  };
}

describe('a server with max_allowed_packet = 1 MiB', () => {
  it('writeChanges, getRecords and a delete of 2,500 long ids (about 1.9 MB inlined) succeed', async () => {
    const { store, done } = await fixture();
    try {
      const puts = ids.map((id) => ({
        op: 'put' as const,
        record: { id, text: 't', metadata: {}, embedding: [1, 0] },
      }));
      const written = await store.writeChanges(puts, 1);
      expect(written.filter((r) => r.changed)).toHaveLength(N);
      expect((await store.getRecords(ids)).size).toBe(N);
      const again = await store.writeChanges(puts, 2);
      expect(again.filter((r) => r.changed)).toHaveLength(0);
      const deleted = await store.writeChanges(
        ids.map((id) => ({ op: 'delete' as const, id })),
        3,
      );
      expect(deleted.filter((r) => r.changed)).toHaveLength(N);
    } finally {
      await done();
    }
  }, 120_000);

  it('async-queue: the acks of 300 ids of 1,524 UTF-8 bytes (512 code units) fit too', async () => {
    // Found by a break-it trial: the shared ack statements name each id up to three times, split only by count;
    // the server refused the ack for ever, and flush() never finished.
    const { store, done } = await fixture();
    const vector = new MemoryVectorStore({ dimension: 2 });
    const dw = await createDualWrite({ relational: store, vector, strategy: 'async-queue' });
    const long = Array.from({ length: 300 }, (_, i) => String(i).padStart(6, '0') + '\u20ac'.repeat(506));
    try {
      await dw.putMany(long.map((id) => ({ id, text: 't', metadata: {}, embedding: [1, 0] })));
      await dw.flush({ timeoutMs: 60_000 });
      expect(await store.outboxStats(Date.now())).toMatchObject({ depth: 0, deadLetters: 0 });
      expect((await dw.reconcile({ dryRun: true })).checkedVectors).toBe(long.length);
    } finally {
      await dw.close();
      await done();
    }
  }, 120_000);

  for (const strategy of ['async-queue', 'batch', 'sync-2pc'] as const)
    it(`${strategy}: putMany and deleteMany of 2,500 long ids reach the index`, async () => {
      const { store, done } = await fixture();
      const vector = new MemoryVectorStore({ dimension: 2 });
      const dw = await createDualWrite({ relational: store, vector, strategy });
      try {
        await dw.putMany(ids.map((id) => ({ id, text: 't', metadata: {}, embedding: [1, 0] })));
        await dw.flush({ timeoutMs: 60_000 });
        const indexed = await dw.reconcile({ dryRun: true });
        expect(indexed).toMatchObject({ missing: 0, stale: 0 });
        expect(indexed.checkedVectors).toBe(N);
        await dw.deleteMany(ids);
        await dw.flush({ timeoutMs: 60_000 });
        expect((await dw.reconcile({ dryRun: true })).checkedVectors).toBe(0);
      } finally {
        await dw.close();
        await done();
      }
    }, 180_000);
});
