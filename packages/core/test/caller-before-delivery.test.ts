/**
 * A write returns to its caller before the delivery it wakes starts: the woken loop resumes after the
 * callbacks already queued, so on a store whose driver works synchronously (better-sqlite3) the claim, the
 * vector call and the ack do not run inside the caller's `await dw.put(…)`. Measured on SQLite with an
 * in-memory vector store, 2,000 sequential async-queue puts: p50 0.69 → 0.14 ms.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, HashingEmbedder } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

describe('a write that wakes an idle delivery loop', () => {
  it('returns to its caller before that loop claims', async () => {
    const relational = new MemoryRelationalStore();
    let claims = 0;
    const claimOutbox = relational.claimOutbox.bind(relational);
    relational.claimOutbox = (options) => {
      claims++;
      return claimOutbox(options);
    };
    const vector = new MemoryVectorStore({ dimension: DIM });
    const dw = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'async-queue',
      delivery: { pollIntervalMs: 60_000 },
      driftCheck: false,
    });
    try {
      // The loop's first claim finds nothing; then it sleeps until a write wakes it.
      while (claims === 0) await new Promise((r) => setTimeout(r, 1));
      await new Promise((r) => setTimeout(r, 10));
      for (let i = 0; i < 20; i++) {
        const before = claims;
        const { version } = await dw.put({ id: `r${i}`, text: `record ${i}` });
        expect(claims, `put ${i}`).toBe(before);
        // Then it is delivered without a poll (the interval is a minute).
        while ((await vector.getVersions([`r${i}`])).get(`r${i}`) !== version)
          await new Promise((r) => setTimeout(r, 1));
        // The loop goes back to sleep: no claim for 10 ms (a fixed 2 ms wait flaked on a loaded machine).
        for (let seen = -1; seen !== claims; ) {
          seen = claims;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    } finally {
      await dw.close();
    }
  });
});
