/**
 * A `lockTimeoutMs` near its upper bound (2^31 - 1 ms) on a real MariaDB: the write paths bound their wait for the
 * server's answer by two lock waits and a margin, a delay past what one Node.js timer holds. Such a timer fires
 * after 1 ms, so each write raced it: about a third failed as unanswered, many of them committed (helper-90).
 */
import type { Change } from '@dualwrite/core';
import { afterEach, describe, expect, it } from 'vitest';
import { MysqlRelationalStore } from '../src/index.js';
import { testDatabase } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const put = (id: string): Change => ({
  op: 'put',
  record: { id, text: id, metadata: {}, embedding: [1, 0] },
});

describe('MySQL: lockTimeoutMs at its upper bound', () => {
  it('single puts, batches and sync-2pc prepares all answer', async () => {
    const db = await testDatabase();
    const store = new MysqlRelationalStore({ connectionString: db.url, lockTimeoutMs: 2 ** 31 - 1 });
    cleanups.push(async () => {
      await store.close();
      await db.drop();
    });
    await store.init();
    for (let i = 0; i < 40; i++) {
      expect((await store.writeChanges([put(`one-${i}`)], Date.now()))[0]!.changed).toBe(true);
      const batch = await store.writeChanges([put(`a-${i}`), put(`b-${i}`)], Date.now());
      expect(batch.map((r) => r.changed)).toEqual([true, true]);
    }
    const prepared = await store.prepareIntents!([put('intent')], ['token-1'], Date.now() + 60_000);
    expect(prepared).toHaveLength(1);
    expect((await store.outboxStats(Date.now())).depth).toBe(120);
  });
});
