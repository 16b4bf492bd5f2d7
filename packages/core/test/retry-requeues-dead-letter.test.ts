/**
 * Writing a dead-lettered record's state again — how a caller retries a write — requeues it, under every strategy:
 * the retry is a no-op for SQL (`changed: false`) but must reach the index. Before, it came back `changed: false`
 * and the record stayed dead-lettered for good.
 */
import { describe, expect, it } from 'vitest';
import {
  createDualWrite,
  HashingEmbedder,
  PermanentBackendError,
  type StrategyName,
  type UpsertOptions,
  type UpsertReport,
  type VectorRecord,
  VectorStoreWrapper,
} from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

/** Refuses every upsert carrying `id` while `refusing`. */
class RefusesOnce extends VectorStoreWrapper {
  refusing = true;
  constructor(
    inner: MemoryVectorStore,
    private readonly id: string,
  ) {
    super(inner);
  }
  override upsert(
    records: readonly VectorRecord[],
    options?: UpsertOptions,
  ): Promise<UpsertReport | undefined> {
    if (this.refusing && records.some((r) => r.id === this.id))
      return Promise.reject(new PermanentBackendError('refused for now', { status: 400 }));
    return super.upsert(records, options);
  }
}

describe('a retried write of a dead-lettered record', () => {
  for (const strategy of ['async-queue', 'batch', 'sync-2pc'] as StrategyName[])
    it(`requeues it and it reaches the index (${strategy})`, async () => {
      const index = new MemoryVectorStore({ dimension: DIM });
      const vector = new RefusesOnce(index, 'a');
      const dw = await createDualWrite({
        relational: new MemoryRelationalStore(),
        vector,
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy,
        driftCheck: false,
      });
      try {
        const record = { id: 'a', text: 'the state to write', metadata: { n: 1 } };
        const first = await dw.put(record).catch((e: unknown) => e); // sync-2pc: refused in the call
        if (strategy === 'sync-2pc') expect(first).toBeInstanceOf(PermanentBackendError);
        else await dw.flush({ timeoutMs: 5_000 });
        // sync-2pc compensated: nothing committed, so the retry is a change; the async strategies dead-lettered it.
        if (strategy !== 'sync-2pc') expect((await dw.stats()).deadLetters).toBe(1);
        vector.refusing = false;
        const retry = await dw.put(record);
        if (strategy !== 'sync-2pc') expect(retry.changed).toBe(false);
        await dw.flush({ timeoutMs: 5_000 });
        expect((await dw.stats()).deadLetters).toBe(0);
        expect((await index.getVersions(['a'])).get('a')).toBe(retry.version);
        expect(await dw.syncStatus('a')).toMatchObject({ state: 'synced' });
        if (strategy === 'batch') {
          // Dead-lettered again, then retried through a unit of work: requeued the same way.
          vector.refusing = true;
          await dw.put({ ...record, text: 'another state' });
          await dw.flush({ timeoutMs: 5_000 });
          expect((await dw.stats()).deadLetters).toBe(1);
          vector.refusing = false;
          const again = await dw.transaction((uow) => uow.put({ ...record, text: 'another state' }));
          expect(again.changed).toBe(false);
          await dw.flush({ timeoutMs: 5_000 });
          expect((await dw.stats()).deadLetters).toBe(0);
          expect((await index.getVersions(['a'])).get('a')).toBe(again.version);
        }
      } finally {
        await dw.close();
      }
    });
});
