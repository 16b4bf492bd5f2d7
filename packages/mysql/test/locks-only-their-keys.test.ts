/**
 * The store's own writes never wait for rows of other ids that an application transaction wrote and has not
 * committed (beyond the lock slot two ids can share: see the README's "Lost updates" row). On a table of a few rows MariaDB scans it for a DELETE with an `IN` list (even under `FORCE INDEX`)
 * or a range, and a locking scan waits for every uncommitted row: an ack of B and C waited for a
 * `dw.transaction`'s new row X while holding B's lock — that transaction then deadlocked when it wrote B, and
 * while it stayed open no other id was acknowledged for the lock timeout. The version sequence's prune did the
 * same inside a batch write (found by a break-it round). Each check here waited out the lock timeout before.
 */
import { type Change, writeChangesWithOutbox } from '@dualwrite/core';
import { afterEach, describe, expect, it } from 'vitest';
import { MysqlRelationalStore } from '../src/index.js';
import { testDatabase } from './helpers.js';

const put = (id: string): Change => ({
  op: 'put',
  record: { id, text: `text of ${id}`, embedding: [1, 0, 0, 0], metadata: {} },
});

/** An application transaction that wrote `id` (record row, outbox entry, a version) and stays open until released. */
function openTransaction(store: MysqlRelationalStore, id: string) {
  let release!: () => void;
  let written!: () => void;
  const wrote = new Promise<void>((r) => {
    written = r;
  });
  const done = store.transaction(async (tx) => {
    await writeChangesWithOutbox(tx, [put(id)], Date.now());
    written();
    await new Promise<void>((r) => {
      release = r;
    });
  });
  return { wrote, done, release: () => release() };
}

/** `work`'s outcome if it settles within `ms`, `'waited'` otherwise. */
async function within<T>(ms: number, work: Promise<T>): Promise<T | 'waited'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'waited'>((r) => {
    timer = setTimeout(() => r('waited'), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('MySQL writes lock only their own keys', () => {
  const cleanups: (() => Promise<void>)[] = [];

  async function freshStore() {
    const db = await testDatabase();
    const store = new MysqlRelationalStore({ connectionString: db.url, poolSize: 4, lockTimeoutMs: 3_000 });
    cleanups.push(async () => {
      await store.close();
      await db.drop();
    });
    await store.init();
    return store;
  }

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('an ack of other ids does not wait for an open transaction’s new row', async () => {
    const store = await freshStore();
    await store.writeChanges([put('B'), put('C')], Date.now());
    const leases = await store.claimOutbox({ owner: 'w', limit: 10, leaseMs: 60_000, now: Date.now() });
    expect(leases.map((l) => l.recordId).sort()).toEqual(['B', 'C']);
    const app = openTransaction(store, 'X');
    await app.wrote;
    try {
      const acks = leases.map((l) => ({
        recordId: l.recordId,
        leaseToken: l.leaseToken,
        appliedVersion: l.version,
      }));
      expect(await within(1_500, store.ackOutbox(acks, Date.now()))).toEqual(['acked', 'acked']);
      expect((await store.outboxStats(Date.now())).depth, "B's and C's entries are gone").toBe(0);
    } finally {
      app.release();
      await app.done;
    }
    expect((await store.outboxStats(Date.now())).depth, "X's committed").toBe(1);
  });

  it('a batch write does not wait for an open transaction’s version', async () => {
    const store = await freshStore();
    const app = openTransaction(store, 'X');
    await app.wrote;
    try {
      const written = await within(1_500, store.writeChanges([put('B'), put('C')], Date.now()));
      expect(written, 'the batch write returned while the transaction was open').not.toBe('waited');
    } finally {
      app.release();
      await app.done;
    }
    expect((await store.getRecords(['B', 'C', 'X'])).size).toBe(3);
  });
});
