/**
 * sync-2pc writes a delete it delivered in the call as a tombstone already acknowledged, with no outbox entry:
 * no ack ever purges it (the async strategies purge theirs at the ack). The strategy purges such settled
 * tombstones right after its commit, so a delete-heavy sync-2pc workload does not grow the records table for good
 * (found by a new-user trial).
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 4;

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
      await dw.put({ id: 'd0', text: 'back', embedding: [0, 1, 0, 0] });
      expect(await dw.get('d0')).toMatchObject({ text: 'back' });
    } finally {
      await dw.close();
    }
  });
});
