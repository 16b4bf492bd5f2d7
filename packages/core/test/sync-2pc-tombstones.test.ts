/**
 * sync-2pc writes a delete it delivered in the call as a tombstone already acknowledged, with no outbox entry:
 * no ack ever purges it (the async strategies purge theirs at the ack). The strategy purges such settled
 * tombstones right after its commit, so a delete-heavy sync-2pc workload does not grow the records table for good
 * (found by a new-user trial). A tombstone the purge missed (a crash between the commit and the purge) is
 * purged by the next reconcile, which finds it gone from the index.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 4;

/** A store whose purge never lands, as if the process died between sync-2pc's commit and its purge. */
class PurgeLostStore extends MemoryRelationalStore {
  lose = true;

  override async purgeTombstones(ids: readonly string[]): Promise<number> {
    if (this.lose) throw new Error('process died before the purge');
    return super.purgeTombstones(ids);
  }
}

describe('sync-2pc tombstones', () => {
  it('are purged right after the commit', async () => {
    const relational = new MemoryRelationalStore();
    const dw = await createDualWrite({
      relational,
      vector: new MemoryVectorStore({ dimension: DIM }),
      strategy: 'sync-2pc',
      driftCheck: false,
    });
    try {
      const ids = Array.from({ length: 6 }, (_, i) => `d${i}`);
      await dw.putMany(ids.map((id, i) => ({ id, text: id, embedding: [1, i, 0, 0] })));
      await dw.deleteMany(ids.slice(0, 4));
      const stored = await relational.getRecords(ids, { includeDeleted: true });
      expect([...stored.keys()].sort(), 'the live records stay, the tombstones are gone').toEqual([
        'd4',
        'd5',
      ]);
      expect((await dw.syncStatus('d0')).state).toBe('absent');
      expect((await dw.stats()).synced, 'the 6 puts and 4 deletes applied in the call count as synced').toBe(
        10,
      );
      await dw.put({ id: 'd0', text: 'back', embedding: [0, 1, 0, 0] });
      expect(await dw.get('d0')).toMatchObject({ text: 'back' });
    } finally {
      await dw.close();
    }
  });

  it('left by a lost purge are purged by the next reconcile, and only the settled ones', async () => {
    const relational = new PurgeLostStore();
    const vector = new MemoryVectorStore({ dimension: DIM });
    const dw = await createDualWrite({ relational, vector, strategy: 'sync-2pc', driftCheck: false });
    try {
      const ids = Array.from({ length: 5 }, (_, i) => `t${i}`);
      await dw.putMany(ids.map((id, i) => ({ id, text: id, embedding: [1, i, 0, 0] })));
      await dw.deleteMany(ids.slice(0, 3));
      const left = async () =>
        [...(await relational.getRecords(ids, { includeDeleted: true })).values()]
          .filter((r) => r.deleted)
          .map((r) => r.id)
          .sort();
      expect(await left(), 'the purge was lost').toEqual(['t0', 't1', 't2']);
      // t0's delete is due again, delivery paused so it stays in the outbox: not settled.
      dw.pause();
      await relational.transaction(async (tx) => {
        await tx.enqueue('t0', (await tx.getRecord('t0'))!.version, 'delete', Date.now());
      });
      relational.lose = false;

      const dry = await dw.reconcile({ dryRun: true });
      expect(dry).toMatchObject({ tombstonesPurged: 0, missing: 0, orphans: 0 });
      expect(await left(), 'a dry run deletes nothing').toEqual(['t0', 't1', 't2']);

      const report = await dw.reconcile();
      expect(report).toMatchObject({ tombstonesPurged: 2, missing: 0, orphans: 0, repairsEnqueued: 0 });
      expect(await left(), 'the tombstone with an outbox entry stays').toEqual(['t0']);
      expect((await vector.getVersions(ids)).size, 'the live records stay indexed').toBe(2);
      expect(await dw.get('t3')).toMatchObject({ text: 't3' });
    } finally {
      await dw.close({ drain: false });
    }
  });
});
