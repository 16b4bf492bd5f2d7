/**
 * Backpressure holds under concurrent writes of one process: a burst of calls must not all read one depth under
 * the limit and all get in (a break-it round over the demo API saw the outbox pass `maxDepth`).
 */
import { describe, expect, it } from 'vitest';
import { BackpressureError, createDualWrite, HashingEmbedder } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

describe('backpressure under concurrent writes', () => {
  it.each([
    ['cached depth', 100],
    ['depth read per write', 0],
  ])('never lets the outbox pass maxDepth (%s)', async (_, depthCacheMs) => {
    const relational = new MemoryRelationalStore();
    const dw = await createDualWrite({
      relational,
      vector: new MemoryVectorStore({ dimension: DIM }),
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'async-queue',
      backpressure: { maxDepth: 10, mode: 'fail', depthCacheMs },
      driftCheck: false,
    });
    try {
      dw.pause(); // nothing drains: every admitted write stays in the outbox
      await dw.put({ id: 'first', text: 'one write before the burst' });
      const outcomes = await Promise.allSettled([
        ...Array.from({ length: 40 }, (_, i) => dw.put({ id: `doc-${i}`, text: `document ${i}` })),
        dw.putMany([
          { id: 'many-1', text: 'a' },
          { id: 'many-2', text: 'b' },
        ]),
        dw.transaction(async (uow) => {
          await uow.put({ id: 'uow-1', text: 'c' });
        }),
      ]);
      const refused = outcomes.filter((o) => o.status === 'rejected');
      for (const o of refused) expect(o.reason).toBeInstanceOf(BackpressureError);
      expect(refused.length, 'backpressure engaged').toBeGreaterThan(0);
      const { outboxDepth } = await dw.stats();
      expect(outboxDepth, 'the outbox passed maxDepth').toBeLessThanOrEqual(10);
      expect(outboxDepth).toBeGreaterThanOrEqual(9); // the limit is reached, not undershot by much
    } finally {
      await dw.close({ drain: false });
    }
  });
});
