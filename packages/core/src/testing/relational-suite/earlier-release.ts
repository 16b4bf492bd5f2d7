import { expect } from 'vitest';
import type { RelationalStore } from '../../contracts/relational-store.js';
import type { Change } from '../../contracts/write-strategy.js';
import { rollBackIntent } from '../../write/roll-back-intent.js';

/**
 * Checks that `store` — opened and `init()`ed on data written by release 0.1 of its adapter (a fixture the
 * adapter's tests load: a dump made by that release) — reads that data as written and carries on from it.
 *
 * The fixture holds what release 0.1 left after: in one transaction, records `live`, `Live`, `live ` (ids that
 * a case- or space-folding collation would merge) at versions 1..3 and the tombstone `gone` at 4, each
 * enqueued at `1000 + version`, and an intent `tok-1` on `gone`; then `live`'s entry claimed and acked;
 * then the cache entry `model:abc` = [1, 2] and meta `index-binding` = `{"kind":"lancedb"}`.
 */
export async function checkStoreFromEarlierRelease(store: RelationalStore): Promise<void> {
  const records = await store.getRecords(['live', 'Live', 'live ', 'gone'], { includeDeleted: true });
  expect([...records.keys()].sort()).toEqual(['Live', 'gone', 'live', 'live ']);
  expect(records.get('live')).toMatchObject({ text: 'text of live', version: 1, syncedVersion: 1 });
  expect(records.get('live')!.embedding).toEqual([0.5, -1]);
  expect(records.get('live')!.metadata).toEqual({ k: 'live' });
  expect(records.get('gone')).toMatchObject({ deleted: true, version: 4 });
  expect(await store.currentVersion()).toBe(4);
  expect(await store.getCachedEmbeddings!(['model:abc'])).toEqual(new Map([['model:abc', [1, 2]]]));
  // The old release's cache entry ages from the upgrade (where the store expires entries): kept by a prune of
  // what was unused for a minute, gone with one of everything before the next minute.
  if (store.pruneCachedEmbeddings) {
    expect(await store.pruneCachedEmbeddings(Date.now() - 60_000, 10)).toBe(0);
    expect((await store.getCachedEmbeddings!(['model:abc'])).size).toBe(1);
  }
  expect(await store.getMeta('index-binding')).toBe('{"kind":"lancedb"}');

  // Carries on: claims the three pending entries in enqueue order, acks them, keeps the tombstone while its
  // intent lives, and hands out versions above the old ones.
  const leases = await store.claimOutbox({ owner: 'upgrade', now: 5_000, leaseMs: 60_000, limit: 10 });
  expect(leases.map((l) => l.recordId)).toEqual(['Live', 'live ', 'gone']);
  const acks = leases.map((l) => ({
    recordId: l.recordId,
    leaseToken: l.leaseToken,
    appliedVersion: l.version,
  }));
  expect(await store.ackOutbox(acks, 5_001)).toEqual(['acked', 'acked', 'acked']);
  expect((await store.getRecords(['gone'], { includeDeleted: true })).has('gone')).toBe(true);
  // Recovery finds the old release's intent once it expired and rolls it back through the store's transaction.
  const intents = await store.listExpiredIntents!(99_999, 10);
  expect(intents).toEqual([{ token: 'tok-1', recordId: 'gone', version: 4, expiresAt: 99_999 }]);
  expect(await rollBackIntent(store, intents[0]!, 5_002)).toBe(true);
  const next = await store.transaction(async (tx) => {
    const version = await tx.nextVersion();
    await tx.writeRecord({
      id: 'new',
      text: 'after the upgrade',
      embedding: null,
      metadata: {},
      version,
      deleted: false,
      contentHash: 'h-new',
      syncedVersion: null,
      now: 6_000,
    });
    await tx.enqueue('new', version, 'upsert', 6_000);
    return version;
  });
  expect(next).toBeGreaterThan(4);
  expect((await store.outboxStats(6_000)).depth).toBe(2);

  // The one-batch write path (where the store has one) works on the upgraded schema and decides no-ops
  // against rows the old release wrote.
  if (!store.writeChanges) return;
  const put = (text: string): Change => ({
    op: 'put',
    record: { id: 'live', text, metadata: { k: 'live' }, embedding: [0.5, -1] },
  });
  expect(await store.writeChanges([put('text of live')], 7_000)).toEqual([
    { id: 'live', version: 1, changed: false },
  ]);
  const [changed] = await store.writeChanges([put('changed after the upgrade')], 7_001);
  expect(changed).toMatchObject({ id: 'live', changed: true });
  expect(changed!.version).toBeGreaterThan(next);
}
