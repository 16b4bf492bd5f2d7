/**
 * Without pushed wake-ups, an idle drain worker backs its poll off (doubling from `pollIntervalMs` up to
 * `maxIdlePollMs`) and is quick again once there is work: a write in another process (a second facade on the
 * same shared reference data) is still picked up within `maxIdlePollMs`.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, HashingEmbedder, type RelationalStore } from '../src/index.js';
import { MemoryRelationalData, MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

/** Counts claims on a real reference store. */
function counting(store: MemoryRelationalStore): { store: RelationalStore; claims: () => number } {
  let claims = 0;
  const claimOutbox = store.claimOutbox.bind(store);
  store.claimOutbox = (options) => {
    claims++;
    return claimOutbox(options);
  };
  return { store, claims: () => claims };
}

async function worker(data: MemoryRelationalData, vector: MemoryVectorStore, maxIdlePollMs: number) {
  const { store, claims } = counting(new MemoryRelationalStore({ data }));
  const dw = await createDualWrite({
    relational: store,
    vector,
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy: 'async-queue',
    delivery: { pollIntervalMs: 10, maxIdlePollMs },
    driftCheck: false,
  });
  return { dw, claims };
}

describe('idle poll back-off', () => {
  it('polls less while idle, and still picks up another process’s write within maxIdlePollMs', async () => {
    const data = new MemoryRelationalData();
    const vector = new MemoryVectorStore({ dimension: DIM });
    const fixed = await worker(data, vector, 10);
    const backing = await worker(data, vector, 160);
    const writer = await createDualWrite({
      relational: new MemoryRelationalStore({ data }),
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'async-queue',
      driftCheck: false,
    });
    try {
      writer.pause(); // only the two workers deliver
      await new Promise((r) => setTimeout(r, 1_000));
      const [a, b] = [fixed.claims(), backing.claims()];
      // Each of the drainer's delivery loops polls (async-queue: 4 here).
      expect(a, 'a fixed 10 ms poll: about 100 claims a second per loop').toBeGreaterThan(150);
      expect(b, `backing off to 160 ms: a handful per loop (fixed: ${a})`).toBeLessThan(a / 5);
      fixed.dw.pause();
      const started = performance.now();
      const { version } = await writer.put({ id: 'from-elsewhere', text: 'written by another process' });
      while ((await vector.getVersions(['from-elsewhere'])).get('from-elsewhere') !== version)
        await new Promise((r) => setTimeout(r, 5));
      expect(performance.now() - started, 'found by the next backed-off poll').toBeLessThan(1_000);
    } finally {
      for (const dw of [writer, fixed.dw, backing.dw]) await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  });
});
