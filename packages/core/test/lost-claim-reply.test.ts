/**
 * A claim that committed but whose reply was lost (a connection dropped after COMMIT, a timeout) leaves its
 * entries leased to a live process that never saw them. The drainer claims under an owner of its own per claim
 * and gives those leases back once the store answers again, so the write is delivered at once instead of after
 * the lease (found by a new-user trial on PostgreSQL: a write held back 30 s by a blip).
 */
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, type ClaimOptions, createDualWrite } from '../src/index.js';
import { MemoryRelationalData, MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 4;
const LEASE_MS = 20_000;

/** A real (reference) store whose next claim commits, then fails as if its reply was lost. */
class LostReplyStore extends MemoryRelationalStore {
  loseNextReply = false;
  lostOwners: string[] = [];

  override async claimOutbox(options: ClaimOptions) {
    const leases = await super.claimOutbox(options);
    if (this.loseNextReply && leases.length > 0) {
      this.loseNextReply = false;
      this.lostOwners.push(options.owner);
      throw new BackendUnavailableError('connection lost after COMMIT (test)', { component: 'test' });
    }
    return leases;
  }
}

async function open(relational: MemoryRelationalStore) {
  return createDualWrite({
    relational,
    vector: new MemoryVectorStore({ dimension: DIM }),
    strategy: 'async-queue',
    delivery: { pollIntervalMs: 20, leaseMs: LEASE_MS, owner: 'api-1' },
    driftCheck: false,
  });
}

describe('a claim whose reply was lost', () => {
  it('is given back and delivered long before its lease expires', async () => {
    const relational = new LostReplyStore();
    const dw = await open(relational);
    try {
      relational.loseNextReply = true;
      const started = Date.now();
      await dw.put({ id: 'a', text: 'claimed, reply lost', embedding: [1, 0, 0, 0] });
      await dw.flush({ timeoutMs: LEASE_MS / 4 });
      expect(Date.now() - started).toBeLessThan(LEASE_MS / 4);
      expect(relational.lostOwners).toHaveLength(1);
      expect(relational.lostOwners[0]).toMatch(/^api-1#[0-9a-f]{12}\.\d+$/);
      expect((await dw.syncStatus('a')).state).toBe('synced');
      expect((await dw.stats()).outboxDepth).toBe(0);
    } finally {
      await dw.close({ drain: false });
    }
  });

  it('never gives back the claims of another process configured with the same owner name', async () => {
    const data = new MemoryRelationalData();
    const owners: string[] = [];
    class Logged extends MemoryRelationalStore {
      override claimOutbox(options: ClaimOptions) {
        owners.push(options.owner);
        return super.claimOutbox(options);
      }
    }
    const [a, b] = [await open(new Logged({ data })), await open(new Logged({ data }))];
    try {
      for (let i = 0; i < 20; i++)
        await (i % 2 ? a : b).put({ id: `w${i}`, text: 'x', embedding: [1, i, 0, 0] });
      await Promise.all([a.flush(), b.flush()]);
      expect(owners.length).toBeGreaterThan(2);
      expect(new Set(owners).size, 'every claim, of either process, under a name of its own').toBe(
        owners.length,
      );
    } finally {
      await a.close({ drain: false });
      await b.close({ drain: false });
    }
  });

  it('without releaseClaims on the store, the entry waits for its lease as before', async () => {
    const relational = new LostReplyStore();
    Object.defineProperty(relational, 'releaseClaims', { value: undefined });
    const dw = await open(relational);
    try {
      relational.loseNextReply = true;
      await dw.put({ id: 'a', text: 'claimed, reply lost', embedding: [1, 0, 0, 0] });
      await new Promise((r) => setTimeout(r, 300));
      expect((await dw.syncStatus('a')).state, 'still leased to the lost claim').toBe('pending');
    } finally {
      await dw.close({ drain: false });
    }
  });
});
