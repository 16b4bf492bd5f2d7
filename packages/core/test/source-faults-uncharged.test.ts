/**
 * A failure of the source of truth while delivery plans — reading the records, the embedding cache, storing an
 * embedding back — is the store's fault: nothing is charged to the records (`maxAttempts: 1` would dead-letter
 * them at the first charge), and they are delivered once the store answers. The MySQL package shows the same
 * with a real row lock (`records-locked-during-delivery.test.ts`).
 */
import { describe, expect, it } from 'vitest';
import {
  createDualWrite,
  type EmbeddingUpdate,
  HashingEmbedder,
  TransientBackendError,
} from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 4;
type Failing = 'getRecords' | 'getCachedEmbeddings' | 'putCachedEmbeddings' | 'setEmbeddings';

/**
 * The reference store, one of its planning reads or writes failing while `failing` is set: like a lock wait
 * timeout (`TransientBackendError`), or with `poison` as a plain error of one record's own (a trigger refusing its
 * row), for `onlyId` alone when set.
 */
class LockedStore extends MemoryRelationalStore {
  failing: Failing | null = null;
  onlyId: string | undefined;
  poison = false;
  failures = 0;
  #fail(method: Failing, ids?: readonly string[]): void {
    if (this.failing !== method) return;
    if (this.onlyId !== undefined && ids !== undefined && !ids.includes(this.onlyId)) return;
    this.failures++;
    if (this.poison) throw new Error(`trigger: ${this.onlyId} may not be stored`);
    throw new TransientBackendError(`${method} failed, try again (lock wait timeout)`);
  }
  override async getRecords(...args: Parameters<MemoryRelationalStore['getRecords']>) {
    this.#fail('getRecords');
    return super.getRecords(...args);
  }
  override async getCachedEmbeddings(...args: Parameters<MemoryRelationalStore['getCachedEmbeddings']>) {
    this.#fail('getCachedEmbeddings');
    return super.getCachedEmbeddings(...args);
  }
  override async putCachedEmbeddings(...args: Parameters<MemoryRelationalStore['putCachedEmbeddings']>) {
    this.#fail('putCachedEmbeddings');
    return super.putCachedEmbeddings(...args);
  }
  override async setEmbeddings(updates: readonly EmbeddingUpdate[]) {
    this.#fail(
      'setEmbeddings',
      updates.map((u) => u.id),
    );
    return super.setEmbeddings(updates);
  }
}

/** A facade over `relational` with four records written without embeddings (delivery embeds them), paused. */
async function facadeWithFourRecords(relational: LockedStore) {
  const dw = await createDualWrite({
    relational,
    vector: new MemoryVectorStore({ dimension: DIM }),
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy: 'async-queue',
    driftCheck: false,
    delivery: { maxAttempts: 1, pollIntervalMs: 5 },
  });
  const ids = ['a', 'b', 'c', 'd'];
  dw.pause();
  for (const id of ids) await dw.put({ id, text: `text of ${id}` });
  return { dw, ids };
}

/** Waits until the store failed `n` times, or 3 s passed. */
async function failedTimes(relational: LockedStore, n: number): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (relational.failures < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

describe('a source-of-truth failure while planning a delivery', () => {
  for (const method of ['getRecords', 'getCachedEmbeddings', 'setEmbeddings'] as const)
    it(`${method}: charges nothing, and the records are delivered once the store answers`, async () => {
      const relational = new LockedStore();
      const { dw, ids } = await facadeWithFourRecords(relational);
      try {
        relational.failing = method;
        dw.resume();
        // Several tries (each given back and claimed again); charged, the first one dead-lettered them all.
        await failedTimes(relational, 3);
        for (const id of ids)
          expect(await dw.syncStatus(id), id).toMatchObject({ state: 'pending', attempts: 0 });
        relational.failing = null;
        expect(await dw.flush({ timeoutMs: 10_000 })).toMatchObject({ pending: 0, deadLetters: 0 });
        for (const id of ids) expect(await dw.syncStatus(id), id).toMatchObject({ state: 'synced' });
      } finally {
        await dw.close();
      }
    });

  it('putCachedEmbeddings: a cache write that fails is left out, and the records are delivered at once', async () => {
    const relational = new LockedStore();
    const { dw, ids } = await facadeWithFourRecords(relational);
    try {
      relational.failing = 'putCachedEmbeddings';
      dw.resume();
      expect(await dw.flush({ timeoutMs: 10_000 })).toMatchObject({ pending: 0, deadLetters: 0 });
      expect(relational.failures, 'the cache write was tried').toBeGreaterThan(0);
      for (const id of ids) expect(await dw.syncStatus(id), id).toMatchObject({ state: 'synced' });
      expect((await dw.stats()).retries).toBe(0);
    } finally {
      await dw.close();
    }
  });

  it("one record's row locked: the others are delivered meanwhile, it is charged nothing", async () => {
    const relational = new LockedStore();
    const { dw, ids } = await facadeWithFourRecords(relational);
    try {
      relational.failing = 'setEmbeddings';
      relational.onlyId = 'b';
      dw.resume();
      await failedTimes(relational, 3);
      for (const id of ids.filter((id) => id !== 'b'))
        expect(await dw.syncStatus(id), id).toMatchObject({ state: 'synced' });
      expect(await dw.syncStatus('b')).toMatchObject({ state: 'pending', attempts: 0 });
      relational.failing = null;
      expect(await dw.flush({ timeoutMs: 10_000 })).toMatchObject({ pending: 0, deadLetters: 0 });
    } finally {
      await dw.close();
    }
  });

  it('a record the store refuses for a reason of its own is charged (dead-lettered), the others delivered', async () => {
    const relational = new LockedStore();
    const { dw, ids } = await facadeWithFourRecords(relational);
    try {
      relational.failing = 'setEmbeddings';
      relational.onlyId = 'c';
      relational.poison = true;
      dw.resume();
      // Not a fault of the store: never given back uncharged for ever, holding up every claim it is in.
      expect(await dw.flush({ timeoutMs: 10_000 })).toMatchObject({ pending: 0, deadLetters: 1 });
      expect(await dw.syncStatus('c')).toMatchObject({
        state: 'dead-lettered',
        error: expect.stringContaining('may not be stored'),
      });
      for (const id of ids.filter((id) => id !== 'c'))
        expect(await dw.syncStatus(id), id).toMatchObject({ state: 'synced' });
    } finally {
      await dw.close();
    }
  });
});
