/**
 * async-queue adapts to its backlog without waiting: idle, each change is sent alone as soon as it
 * commits; behind, everything due goes in one vector call. And the drainer never runs more delivery loops
 * than the vector store declares it tolerates.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, FaultyVectorStore, HashingEmbedder } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

async function open(options: { maxConcurrentWrites?: number } = {}) {
  const inner = new MemoryVectorStore({ dimension: DIM });
  if (options.maxConcurrentWrites !== undefined)
    Object.defineProperty(inner, 'maxConcurrentWrites', { value: options.maxConcurrentWrites });
  const vector = new FaultyVectorStore(inner);
  const dw = await createDualWrite({
    relational: new MemoryRelationalStore(),
    vector,
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy: { name: 'async-queue', concurrency: 4 },
    delivery: { pollIntervalMs: 5 },
    driftCheck: false,
  });
  return { dw, vector };
}

describe('async-queue', () => {
  it('sends a backlog in one call, and an idle change alone at once', async () => {
    const { dw, vector } = await open({ maxConcurrentWrites: 1 });
    try {
      dw.pause();
      await dw.putMany(Array.from({ length: 120 }, (_, i) => ({ id: `b-${i}`, text: `backlog ${i}` })));
      dw.resume();
      await dw.flush({ timeoutMs: 10_000 });
      expect(vector.callCount('upsert'), 'a 120-change backlog in one upsert').toBe(1);

      // Idle: each put is delivered on its own, without waiting for company.
      for (let i = 0; i < 3; i++) {
        const before = vector.callCount('upsert');
        const started = performance.now();
        const { version } = await dw.put({ id: `idle-${i}`, text: `idle ${i}` });
        // Poll the index itself: a flush request would skip any wait the drainer might make.
        while ((await vector.getVersions([`idle-${i}`])).get(`idle-${i}`) !== version)
          await new Promise((r) => setTimeout(r, 2));
        expect(vector.callCount('upsert')).toBe(before + 1);
        expect(performance.now() - started, 'delivered without a gather wait').toBeLessThan(1_000);
      }
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  });

  it('runs no more delivery loops at once than the vector store tolerates', async () => {
    for (const [limit, expected] of [
      [1, 1],
      [2, 2],
      [undefined, 4],
    ] as const) {
      const { dw, vector } = await open({ maxConcurrentWrites: limit });
      try {
        vector.latencyMs = 60;
        let inFlight = 0;
        let most = 0;
        const upsert = vector.upsert.bind(vector);
        vector.upsert = async (records, options) => {
          most = Math.max(most, ++inFlight);
          try {
            return await upsert(records, options);
          } finally {
            inFlight--;
          }
        };
        // One change at a time, while earlier deliveries are still in flight: a free loop takes each.
        for (let i = 0; i < 20; i++) {
          await dw.put({ id: `c-${i}`, text: `c ${i}` });
          await new Promise((r) => setTimeout(r, 4));
        }
        await dw.flush({ timeoutMs: 10_000 });
        expect(most, `maxConcurrentWrites ${limit}`).toBe(expected);
      } finally {
        await dw.close({ drain: false, timeoutMs: 2_000 });
      }
    }
  });
});
