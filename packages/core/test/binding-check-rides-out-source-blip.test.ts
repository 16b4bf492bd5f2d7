/**
 * Before it acknowledges a delivery, the drainer reads the index binding once (`assertBound`). When that read
 * failed for the source's own reason (a dropped connection, a restart, a lock timeout), the error went up to the
 * drain loop and the delivered entries stayed leased until their lease ran out: a flush after
 * `pg_terminate_backend` under a put loop on PostgreSQL waited 6.5–9 s for one entry. The check now runs again
 * like any settlement, so the delivery is acknowledged as soon as the source answers.
 */
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, createDualWrite, INDEX_BINDING_KEY } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const LEASE_MS = 20_000;

/** A real (reference) store whose next reads of the index binding fail as a dropped connection would. */
class BlippingBindingReads extends MemoryRelationalStore {
  failNext = 0;
  failed = 0;

  override async getMeta(key: string) {
    if (key === INDEX_BINDING_KEY && this.failNext > 0) {
      this.failNext--;
      this.failed++;
      throw new BackendUnavailableError('getMeta failed: connection terminated (test)', {
        component: 'test',
      });
    }
    return super.getMeta(key);
  }
}

describe("a delivery whose binding check meets the source's blip", () => {
  it('is acknowledged once the source answers, long before its lease expires', async () => {
    const relational = new BlippingBindingReads();
    const vector = new MemoryVectorStore({ dimension: 2 });
    const dw = await createDualWrite({
      relational,
      vector,
      strategy: 'async-queue',
      delivery: { pollIntervalMs: 20, leaseMs: LEASE_MS },
      driftCheck: false,
    });
    try {
      relational.failNext = 3;
      const started = Date.now();
      await dw.put({ id: 'a', text: 'delivered, then the check blips', embedding: [1, 0] });
      await dw.flush({ timeoutMs: LEASE_MS / 4 });
      expect(Date.now() - started, 'acknowledged well within the lease').toBeLessThan(LEASE_MS / 4);
      expect(relational.failed, 'the binding reads that failed').toBe(3);
      expect((await dw.syncStatus('a')).state).toBe('synced');
      expect((await dw.stats()).vectorCalls, 'delivered once: the check ran again, not the delivery').toBe(1);
    } finally {
      await dw.close({ drain: false });
    }
  });
});
