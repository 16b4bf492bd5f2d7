/**
 * A writer-only process (`deliver: false`) never claims outbox entries — not even while it opens. Before, the
 * strategy started its drainer and was paused only after: the first claim ran in between and leased the pending
 * entries to a process that would never deliver them (released again about 7 ms later), so `dualwrite status`
 * reported them in flight and the real workers could not take them meanwhile (found by a new-user trial).
 */
import { describe, expect, it } from 'vitest';
import type { ClaimOptions, OutboxLease } from '../src/index.js';
import { createDualWrite } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 4;

/** Counts the claims made on the store. */
class CountingStore extends MemoryRelationalStore {
  claims = 0;

  override async claimOutbox(options: ClaimOptions): Promise<OutboxLease[]> {
    this.claims++;
    return super.claimOutbox(options);
  }
}

describe('a writer-only process', () => {
  for (const strategy of ['async-queue', 'batch', 'sync-2pc'] as const)
    it(`claims nothing from the start (${strategy})`, async () => {
      const relational = new CountingStore();
      const vector = new MemoryVectorStore({ dimension: DIM });
      const writer = await createDualWrite({
        relational,
        vector,
        strategy: 'async-queue',
        deliver: false,
        driftCheck: false,
        closeStores: false,
      });
      await writer.putMany([1, 2, 3].map((i) => ({ id: `w${i}`, text: `w${i}`, embedding: [1, i, 0, 0] })));
      await writer.close();

      const dw = await createDualWrite({ relational, vector, strategy, deliver: false, driftCheck: false });
      try {
        await new Promise((r) => setTimeout(r, 50));
        expect(relational.claims, 'claims made by writer-only processes').toBe(0);
        expect((await dw.stats()).inFlight, 'nothing leased').toBe(0);
      } finally {
        await dw.close();
      }
    });
});
