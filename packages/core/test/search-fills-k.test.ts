/**
 * `search` skips rows the source of truth no longer has (deleted, not yet removed from the index) and fetches
 * more to replace them, so it returns `k` live hits whenever the index holds them.
 */
import { expect, it } from 'vitest';
import { createDualWrite } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 4;

it('the nearest rows all deleted in SQL (not yet from the index): search still returns k live hits', async () => {
  const dw = await createDualWrite({
    relational: new MemoryRelationalStore(),
    vector: new MemoryVectorStore({ dimension: DIM }),
    strategy: 'batch',
    driftCheck: false,
  });
  // 30 rows right by the query, 10 live ones further away.
  const near = Array.from({ length: 30 }, (_, i) => ({
    id: `near-${i}`,
    text: 'near',
    embedding: [1, i / 1000, 0, 0],
  }));
  const far = Array.from({ length: 10 }, (_, i) => ({
    id: `far-${i}`,
    text: 'far',
    embedding: [1, 1 + i / 10, 0, 0],
  }));
  await dw.putMany([...near, ...far]);
  await dw.flush();
  dw.pause(); // the deletes reach SQL only: the index still holds the 30 near rows
  await dw.deleteMany(near.map((r) => r.id));
  const hits = await dw.search([1, 0, 0, 0], { k: 3 });
  expect(hits.map((h) => h.id)).toEqual(['far-0', 'far-1', 'far-2']);
  expect(await dw.search([1, 0, 0, 0], { k: 20 }), 'fewer only when the index has no more').toHaveLength(10);
  await dw.close({ drain: false });
});
