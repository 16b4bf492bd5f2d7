/**
 * Storing a delivery's embeddings back: one call for the claim; when it fails for a reason that may be one
 * row's, each record again on its own (only that one fails); when the store as a whole is down or closed, every
 * record fails with that error at once — a claim of hundreds is not tried record by record against a store that
 * cannot answer (each try could wait out a connect timeout on a pool slot).
 */
import { describe, expect, it } from 'vitest';
import type { EmbeddingUpdate } from '../src/contracts/relational-store.js';
import { BackendUnavailableError, ClosedError, TransientBackendError } from '../src/index.js';
import { storeEmbeddingsBack } from '../src/outbox/store-embeddings-back.js';
import { MemoryRelationalStore } from '../src/testing/index.js';
import { put } from '../src/testing/relational-suite/helpers.js';

/** The reference store, its `setEmbeddings` failing with `error` for any call that holds `failingId`. */
class FailingStore extends MemoryRelationalStore {
  calls: number[] = [];
  constructor(
    readonly failingId: string,
    readonly error: () => Error,
  ) {
    super();
  }
  override async setEmbeddings(updates: readonly EmbeddingUpdate[]) {
    this.calls.push(updates.length);
    if (updates.some((u) => u.id === this.failingId)) throw this.error();
    return super.setEmbeddings(updates);
  }
}

async function threeRecords(store: MemoryRelationalStore): Promise<EmbeddingUpdate[]> {
  const updates: EmbeddingUpdate[] = [];
  for (const id of ['a', 'b', 'c'])
    updates.push({ id, version: await put(store, { id, embedding: null }), embedding: [1, 2, 3] });
  return updates;
}

describe('storeEmbeddingsBack', () => {
  it('stores a claim in one call', async () => {
    const store = new FailingStore('none', () => new Error('unused'));
    const updates = await threeRecords(store);
    expect(await storeEmbeddingsBack(store, updates)).toEqual([undefined, undefined, undefined]);
    expect(store.calls).toEqual([3]);
    expect((await store.getRecords(['b'])).get('b')?.embedding).toEqual([1, 2, 3]);
  });

  for (const [kind, error] of [
    ['a lock wait timeout', () => new TransientBackendError('lock wait timeout')],
    ['a plain error (a trigger)', () => new Error('trigger refused b')],
  ] as const)
    it(`${kind} in the claim: each record again alone, only that one fails`, async () => {
      const store = new FailingStore('b', error);
      const updates = await threeRecords(store);
      const failures = await storeEmbeddingsBack(store, updates);
      expect(failures.map((f) => f !== undefined)).toEqual([false, true, false]);
      expect(store.calls).toEqual([3, 1, 1, 1]);
      expect((await store.getRecords(['c'])).get('c')?.embedding, 'the others stored').toEqual([1, 2, 3]);
    });

  for (const [kind, error] of [
    ['unreachable', () => new BackendUnavailableError('connect ECONNREFUSED')],
    ['closed', () => new ClosedError('store')],
  ] as const)
    it(`the store ${kind}: every record fails with it, not tried one by one`, async () => {
      const store = new FailingStore('b', error);
      const updates = await threeRecords(store);
      const failures = await storeEmbeddingsBack(store, updates);
      expect(failures.map((f) => (f?.error as Error | undefined)?.name)).toEqual([
        error().name,
        error().name,
        error().name,
      ]);
      expect(store.calls).toEqual([3]);
    });
});
