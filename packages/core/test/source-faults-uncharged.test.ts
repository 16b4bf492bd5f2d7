/**
 * A failure of the source of truth while delivery plans — reading the records, the embedding cache, storing an
 * embedding back — is the store's fault: nothing is charged to the records (`maxAttempts: 1` would dead-letter
 * them at the first charge), and they are delivered once the store answers. The MySQL package shows the same
 * with a real row lock (`records-locked-during-delivery.test.ts`).
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, HashingEmbedder, TransientBackendError } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 4;
type Failing = 'getRecords' | 'getCachedEmbeddings' | 'putCachedEmbeddings' | 'setEmbedding';

/** The reference store, one of its planning reads or writes failing like a lock wait timeout while `failing`. */
class LockedStore extends MemoryRelationalStore {
  failing: Failing | null = null;
  failures = 0;
  #fail(method: Failing): void {
    if (this.failing !== method) return;
    this.failures++;
    throw new TransientBackendError(`${method} failed, try again (lock wait timeout)`);
  }
  override async getRecords(...args: Parameters<MemoryRelationalStore['getRecords']>) {
    this.#fail('getRecords');
    return super.getRecords(...args);
  }
  override async getCachedEmbeddings(keys: readonly string[]) {
    this.#fail('getCachedEmbeddings');
    return super.getCachedEmbeddings(keys);
  }
  override async putCachedEmbeddings(entries: readonly { key: string; embedding: readonly number[] }[]) {
    this.#fail('putCachedEmbeddings');
    return super.putCachedEmbeddings(entries);
  }
  override async setEmbedding(id: string, version: number, embedding: readonly number[]) {
    this.#fail('setEmbedding');
    return super.setEmbedding(id, version, embedding);
  }
}

describe('a source-of-truth failure while planning a delivery', () => {
  for (const method of ['getRecords', 'getCachedEmbeddings', 'putCachedEmbeddings', 'setEmbedding'] as const)
    it(`${method}: charges nothing, and the records are delivered once the store answers`, async () => {
      const relational = new LockedStore();
      const dw = await createDualWrite({
        relational,
        vector: new MemoryVectorStore({ dimension: DIM }),
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy: 'async-queue',
        driftCheck: false,
        delivery: { maxAttempts: 1, pollIntervalMs: 5 },
      });
      try {
        const ids = ['a', 'b', 'c', 'd'];
        dw.pause();
        for (const id of ids) await dw.put({ id, text: `text of ${id}` }); // embedded by delivery
        relational.failing = method;
        dw.resume();
        // Several tries (each released and claimed again); charged, the first one dead-lettered them all.
        const deadline = Date.now() + 3_000;
        while (relational.failures < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        for (const id of ids)
          expect(await dw.syncStatus(id), id).toMatchObject({ state: 'pending', attempts: 0 });
        relational.failing = null;
        expect(await dw.flush({ timeoutMs: 10_000 })).toMatchObject({ pending: 0, deadLetters: 0 });
        for (const id of ids) expect(await dw.syncStatus(id), id).toMatchObject({ state: 'synced' });
      } finally {
        await dw.close();
      }
    });
});
