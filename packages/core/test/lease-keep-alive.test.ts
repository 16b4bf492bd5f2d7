/**
 * A vector call slower than the lease keeps its lease: the drainer renews the leases of an in-flight call,
 * so a second delivery loop (or worker) does not claim the same change and send it again meanwhile. Without
 * the renewals the second loop claims the expired entry and two calls for one id overlap.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, FaultyVectorStore, HashingEmbedder } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;
const LEASE_MS = 120;

describe('lease keep-alive', () => {
  it('a call lasting several leases is never sent twice at once, and loses no lease', async () => {
    const vector = new FaultyVectorStore(new MemoryVectorStore({ dimension: DIM }));
    const dw = await createDualWrite({
      relational: new MemoryRelationalStore(),
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      // Two delivery loops: the second one would claim an entry whose lease ran out.
      strategy: { name: 'async-queue', concurrency: 2 },
      delivery: { pollIntervalMs: 5, leaseMs: LEASE_MS },
      driftCheck: false,
    });
    try {
      let inFlight = 0;
      let most = 0;
      const upsert = vector.upsert.bind(vector);
      vector.upsert = async (records, options) => {
        most = Math.max(most, ++inFlight);
        try {
          await new Promise((r) => setTimeout(r, LEASE_MS * 4));
          return await upsert(records, options);
        } finally {
          inFlight--;
        }
      };
      await dw.put({ id: 'slow', text: 'a slow delivery' });
      await dw.flush({ timeoutMs: 10_000 });
      expect(most, 'calls for one id in flight at once').toBe(1);
      expect(vector.callCount('upsert')).toBe(1);
      expect((await dw.stats()).leasesLost).toBe(0);
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  });
});
