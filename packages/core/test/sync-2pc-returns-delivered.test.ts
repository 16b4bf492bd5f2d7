/**
 * sync-2pc returns with the write in the index (helper-55):
 * - a `transaction()` whose record the index refused (dead-lettered) rejects naming it, instead of resolving as
 *   if delivered; a large one is delivered in bulk calls, not one vector call per record (1,500 records outlasted
 *   the 30 s `unitOfWorkTimeoutMs` on healthy backends);
 * - a `put` raced by another process's write of the same id, whose older vector write landed after its own,
 *   waits for the redelivery of the id's current state instead of returning with the older version indexed.
 */
import { describe, expect, it } from 'vitest';
import {
  createDualWrite,
  DeadLetteredError,
  type DualWrite,
  FaultyVectorStore,
  HashingEmbedder,
  PermanentBackendError,
  verifyConsistency,
} from '../src/index.js';
import { MemoryRelationalData, MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

/** A reference vector store that counts its upsert calls. */
class CountingVectorStore extends MemoryVectorStore {
  upserts = 0;
  override async upsert(...args: Parameters<MemoryVectorStore['upsert']>) {
    this.upserts++;
    return super.upsert(...args);
  }
}

describe('sync-2pc transaction()', () => {
  it('rejects with a DeadLetteredError naming a record the index refused, carrying the result; the others are delivered', async () => {
    const relational = new MemoryRelationalStore();
    const vector = new FaultyVectorStore(new MemoryVectorStore({ dimension: DIM }));
    vector.poisonId('refused', () => new PermanentBackendError('rejected by the index', { status: 400 }));
    const dw = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'sync-2pc',
      delivery: { maxAttempts: 1 },
      driftCheck: false,
    });
    const error = await dw
      .transaction(async (uow) => {
        await uow.put({ id: 'fine', text: 'delivered' });
        await uow.put({ id: 'refused', text: 'dead-lettered' });
        return 'what the callback returned';
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentBackendError);
    expect(error).toBeInstanceOf(DeadLetteredError);
    expect(error).toMatchObject({ ids: ['refused'], result: 'what the callback returned', retryable: false });
    expect((error as Error).message).toMatch(/1 committed record\(s\) were dead-lettered.*"refused"/);
    expect((error as Error).message).toMatch(/rejected by the index/);
    expect(await dw.syncStatus('fine')).toMatchObject({ state: 'synced' });
    expect(await dw.syncStatus('refused')).toMatchObject({ state: 'dead-lettered' });
    await dw.close();
  });

  it('delivers a 600-record transaction in bulk vector calls', async () => {
    const relational = new MemoryRelationalStore();
    const vector = new CountingVectorStore({ dimension: DIM });
    const dw = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'sync-2pc',
      driftCheck: false,
    });
    await dw.transaction(async (uow) => {
      for (let i = 0; i < 600; i++) await uow.put({ id: `r-${i}`, text: `record ${i}` });
    });
    expect(await verifyConsistency(relational, vector)).toMatchObject({ records: 600, lost: 0, stale: 0 });
    expect(vector.upserts, 'bulk calls, not one per record').toBeLessThanOrEqual(20);
    await dw.close();
  });
});

/**
 * One index for two processes, with no version fence (as Chroma has none), that lands a write of "older" after a
 * write of "newer" and before the newer's call returns: the order of the race helper-55 saw.
 */
class RacedIndex extends MemoryVectorStore {
  #release!: () => void;
  readonly #released = new Promise<void>((r) => {
    this.#release = r;
  });
  #landed!: () => void;
  readonly #olderLanded = new Promise<void>((r) => {
    this.#landed = r;
  });
  #held!: () => void;
  readonly olderHeld = new Promise<void>((r) => {
    this.#held = r;
  });

  override async upsert(...[records, options]: Parameters<MemoryVectorStore['upsert']>) {
    const unfenced = { ...options, ifNewer: false };
    if (records.some((r) => r.text === 'older')) {
      this.#held();
      await this.#released;
      const report = await super.upsert(records, unfenced);
      this.#landed();
      return report;
    }
    const report = await super.upsert(records, unfenced);
    if (records.some((r) => r.text === 'newer')) {
      this.#release();
      await this.#olderLanded;
    }
    return report;
  }
}

describe('sync-2pc put raced by another process', () => {
  it("returns with its own version in the index, not the other process's older one that landed after it", async () => {
    const data = new MemoryRelationalData();
    const vector = new RacedIndex({ dimension: DIM });
    const open = () =>
      createDualWrite({
        relational: new MemoryRelationalStore({ data }),
        vector,
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy: 'sync-2pc',
        driftCheck: false,
        closeStores: false,
      });
    const a: DualWrite = await open();
    const b: DualWrite = await open();
    await a.put({ id: 'x', text: 'first' });
    const older = a.put({ id: 'x', text: 'older' }); // prepared first: the lower version
    await vector.olderHeld;
    const newer = await b.put({ id: 'x', text: 'newer' });
    expect(newer.deferred).toBeUndefined();
    const indexed = (await vector.getRecords(['x'])).get('x');
    expect(indexed, 'the index holds the version the call returned').toMatchObject({
      text: 'newer',
      version: newer.version,
    });
    await older;
    await a.flush();
    expect((await vector.getRecords(['x'])).get('x')?.text, 'converged on the last committed write').toBe(
      'newer',
    );
    await a.close();
    await b.close();
  });
});
