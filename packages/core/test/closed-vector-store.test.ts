/**
 * A vector store closed under a running facade (shut down in the wrong order, or closed by another part of the
 * application) is an outage for delivery, not a fault of the records: nothing is dead-lettered or charged, and
 * the entries wait in the outbox for a store that works.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, HashingEmbedder } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

describe('a vector store closed under a running facade', () => {
  it('pauses delivery as an outage instead of dead-lettering the entries', async () => {
    const relational = new MemoryRelationalStore();
    const vector = new MemoryVectorStore({ dimension: DIM });
    const dw = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: { name: 'batch', maxBatchSize: 10 },
      delivery: { pollIntervalMs: 5, maxAttempts: 2 },
      driftCheck: false,
      closeStores: false,
    });
    let down = false;
    dw.events.on('backend-down', () => {
      down = true;
    });
    try {
      dw.pause();
      await dw.putMany(Array.from({ length: 4 }, (_, i) => ({ id: `r-${i}`, text: `record ${i}` })));
      await vector.close();
      dw.resume();
      const until = Date.now() + 2_000;
      while (!down && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 100));
      expect(down, 'reported as an outage').toBe(true);
      const stats = await dw.stats();
      expect(stats.deadLetters).toBe(0);
      expect(stats.outboxDepth).toBe(4);
      expect(stats.backendDown).toBe(true);
      expect(stats.wakeUps, 'a store without push wake-ups is polled').toBeNull();
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  }, 20_000);
});
