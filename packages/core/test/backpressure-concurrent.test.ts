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

  it('counts only what a write left pending: sync-2pc writes and unchanged ones leave nothing', async () => {
    for (const strategy of ['sync-2pc', 'async-queue'] as const) {
      const dw = await createDualWrite({
        relational: new MemoryRelationalStore(),
        vector: new MemoryVectorStore({ dimension: DIM }),
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy,
        backpressure: { maxDepth: 100, mode: 'fail' },
        driftCheck: false,
      });
      try {
        if (strategy === 'sync-2pc')
          // Each call is delivered before it returns: the outbox stays empty (helper-66: the third call was refused
          // with "depth 120" while it was).
          for (let call = 0; call < 4; call++)
            await dw.putMany(
              Array.from({ length: 60 }, (_, i) => ({ id: `s-${call}-${i}`, text: `t ${i}` })),
            );
        else {
          dw.pause();
          await dw.put({ id: 'same', text: 'unchanged' });
          for (let i = 0; i < 150; i++) await dw.put({ id: 'same', text: 'unchanged' }); // no-ops enqueue nothing
        }
      } finally {
        await dw.close({ drain: false });
      }
    }
  });

  it('a unit of work counts each of its writes: concurrent transactions cannot multiply the limit', async () => {
    const dw = await createDualWrite({
      relational: new MemoryRelationalStore(),
      vector: new MemoryVectorStore({ dimension: DIM }),
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'async-queue',
      backpressure: { maxDepth: 10, mode: 'fail' },
      driftCheck: false,
    });
    try {
      dw.pause();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, (_, t) =>
          dw.transaction(async (uow) => {
            for (let i = 0; i < 50; i++) await uow.put({ id: `t${t}-${i}`, text: `row ${i}` });
          }),
        ),
      );
      const refused = outcomes.filter((o) => o.status === 'rejected');
      for (const o of refused) expect(o.reason).toBeInstanceOf(BackpressureError);
      expect(refused.length).toBeGreaterThan(0);
      // Before: 10 of 10 committed, 500 entries. Now one transaction may pass the limit by its own size at most.
      expect((await dw.stats()).outboxDepth).toBeLessThanOrEqual(60);
    } finally {
      await dw.close({ drain: false });
    }
  });
});
