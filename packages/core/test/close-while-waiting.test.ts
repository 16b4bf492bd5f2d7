/**
 * `close()` while a sync-2pc call waits for its committed writes to reach the index: the call says they are
 * committed (and still queued), instead of failing with the store's "is closed" as if nothing was written — a
 * caller that retries a committed `transaction()` writes its application rows twice.
 */
import { describe, expect, it } from 'vitest';
import {
  ClosedError,
  createDualWrite,
  FaultyVectorStore,
  HashingEmbedder,
  TimeoutError,
} from '../src/index.js';
import {
  MemoryRelationalData,
  MemoryRelationalStore,
  MemoryVectorData,
  MemoryVectorStore,
} from '../src/testing/index.js';

const DIM = 8;

/** A reference vector store whose upserts wait while `held` is set. */
class HeldVectorStore extends MemoryVectorStore {
  held: Promise<void> | undefined;
  override async upsert(...args: Parameters<MemoryVectorStore['upsert']>) {
    if (this.held) await this.held;
    return super.upsert(...args);
  }
}

/** A facade over reference stores whose vector store is down (writes commit and stay queued). */
async function overDownIndex(
  options: Pick<Parameters<typeof createDualWrite>[0], 'strategy' | 'closeStores'>,
) {
  const relational = new MemoryRelationalStore();
  const vector = new FaultyVectorStore(new MemoryVectorStore({ dimension: DIM }));
  const dw = await createDualWrite({
    relational,
    vector,
    embedder: new HashingEmbedder({ dimension: DIM }),
    driftCheck: false,
    ...options,
  });
  vector.setDown(true);
  return { relational, vector, dw };
}

describe('close() while a sync-2pc call waits for delivery', () => {
  it('transaction() rejects with a ClosedError saying its records committed and stay queued', async () => {
    const { relational, dw } = await overDownIndex({ strategy: 'sync-2pc', closeStores: false });
    const call = dw
      .transaction(async (uow) => {
        await uow.put({ id: 'a', text: 'committed before close' });
      })
      .catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    expect(await dw.close({ timeoutMs: 300 })).toMatchObject({ drained: false, remaining: 1 });
    const error = await call;
    expect(error).toBeInstanceOf(ClosedError);
    // (Was the memory store's "(getOutboxEntry) is closed": nothing said the records had committed.)
    expect((error as Error).message).toMatch(
      /1 committed record\(s\).*stay queued.*do not run the callback again/,
    );
    expect((await relational.getRecords(['a'])).get('a')).toMatchObject({ text: 'committed before close' });
    await relational.close();
  });

  // helper-60: the timeout said `retryable: true` although the records had committed — a caller retrying on it
  // runs its callback again and writes its application rows twice.
  it('transaction() whose committed records do not sync in time rejects with a TimeoutError that is not retryable', async () => {
    const { relational, vector, dw } = await overDownIndex({
      strategy: { name: 'sync-2pc', unitOfWorkTimeoutMs: 300 },
    });
    const error = await dw
      .transaction(async (uow) => {
        await uow.put({ id: 'a', text: 'committed, not yet indexed' });
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ retryable: false, timeoutMs: 300 });
    expect((error as Error).message).toMatch(
      /1 committed record\(s\).*stay queued.*do not run the callback again/,
    );
    expect((await relational.getRecords(['a'])).get('a')).toMatchObject({
      text: 'committed, not yet indexed',
    });
    vector.setDown(false);
    await dw.flush({ timeoutMs: 5_000 });
    await dw.close();
  });

  it('a raced put waiting for another writer’s older write returns deferred (committed), not an error', async () => {
    const data = new MemoryRelationalData();
    const vectorData = new MemoryVectorData();
    const open = async () => {
      const vector = new HeldVectorStore({ dimension: DIM, data: vectorData });
      const dw = await createDualWrite({
        relational: new MemoryRelationalStore({ data }),
        vector,
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy: 'sync-2pc',
        driftCheck: false,
      });
      return { dw, vector };
    };
    const a = await open();
    const b = await open();
    await a.dw.put({ id: 'x', text: 'original' });
    let release!: () => void;
    a.vector.held = new Promise((r) => {
      release = r;
    });
    const putA = a.dw.put({ id: 'x', text: 'written by A' }); // prepared; its vector write is held
    await new Promise((r) => setTimeout(r, 50));
    const putB = b.dw.put({ id: 'x', text: 'written by B' }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300)); // B committed and waits for A's older write
    await b.dw.close({ timeoutMs: 200 });
    // (Was a ClosedError from the store B's wait read: the put looked failed although it had committed.)
    expect(await putB).toMatchObject({ id: 'x', changed: true, deferred: true });
    release();
    a.vector.held = undefined;
    await putA;
    await a.dw.flush({ timeoutMs: 5_000 });
    expect(await a.dw.get('x')).toMatchObject({ text: 'written by B' });
    await a.dw.close();
  });
});
