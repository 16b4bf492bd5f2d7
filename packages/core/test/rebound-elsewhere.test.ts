/**
 * A process left running with the old configuration after another rebound the source of truth to another index
 * (`indexBinding: 'rebind'`: another table, directory or collection) must not acknowledge what it writes into the
 * old one: acknowledged, a record reads synced while the bound index lacks it. A break-it round on SQLite and
 * PostgreSQL with LanceDB saw the old process deliver and acknowledge into the old table until its next periodic
 * check (for good with `driftCheck: false`: 1,364 acknowledgements in 45 s), and under sync-2pc 486 puts resolve.
 * Now a delivery checks the binding before its ack, and a sync-2pc write before its commit.
 */
import { describe, expect, it } from 'vitest';
import type { VectorIndexIdentity, VectorStore } from '../src/contracts/vector-store.js';
import { createDualWrite, HashingEmbedder, IndexBindingError, VectorStoreWrapper } from '../src/index.js';
import {
  MemoryRelationalData,
  MemoryRelationalStore,
  MemoryVectorData,
  MemoryVectorStore,
} from '../src/testing/index.js';

const DIM = 4;

/** A memory index named like a table of its own (a wrapper's optional capabilities are its own properties). */
class NamedIndex extends VectorStoreWrapper {
  constructor(inner: VectorStore, table: string) {
    super(inner);
    Object.assign(this, {
      identity: async (): Promise<VectorIndexIdentity> => ({
        ...(await inner.identity!()),
        collection: table,
      }),
    });
  }
}

async function open(
  data: MemoryRelationalData,
  table: string,
  strategy: 'sync-2pc' | 'async-queue' | 'batch',
  extra: { indexBinding?: 'rebind'; deliver?: boolean } = {},
) {
  const index = new MemoryVectorStore({ dimension: DIM, data: new MemoryVectorData() });
  const dw = await createDualWrite({
    relational: new MemoryRelationalStore({ data }),
    vector: new NamedIndex(index, table),
    strategy,
    driftCheck: false,
    closeStores: false,
    delivery: { pollIntervalMs: 10 },
    ...extra,
  });
  return { dw, index };
}

const embedding = [1, 0, 0, 0];

describe('a process whose index the source was rebound away from', () => {
  it.each(['async-queue', 'batch'] as const)(
    '%s: does not acknowledge a delivery into its old index; the change stays queued for the bound one',
    async (strategy) => {
      const data = new MemoryRelationalData();
      const old = await open(data, 't1', strategy);
      const next = await open(data, 't2', strategy, { indexBinding: 'rebind' });
      next.dw.pause(); // only the old process delivers for now
      try {
        await old.dw.put({ id: 'after', text: 'written after the rebind', embedding });
        await old.dw.flush({ timeoutMs: 1_000 }).catch(() => {});
        expect((await old.dw.syncStatus('after')).state, 'not synced: the bound index lacks it').not.toBe(
          'synced',
        );
        expect((await old.dw.stats()).deliveryStopped).toBeTruthy();
        await expect(old.dw.search(embedding), 'no answers from the old index').rejects.toBeInstanceOf(
          IndexBindingError,
        );
        next.dw.resume();
        await next.dw.flush({ timeoutMs: 5_000 });
        expect((await next.index.getVersions(['after'])).has('after'), 'delivered into the bound index').toBe(
          true,
        );
        expect((await next.dw.syncStatus('after')).state).toBe('synced');
      } finally {
        await next.dw.close();
        await old.dw.close({ drain: false, timeoutMs: 500 });
      }
    },
  );

  it('sync-2pc: refuses a write after the rebind, compensated, instead of committing it synced', async () => {
    const data = new MemoryRelationalData();
    const old = await open(data, 't1', 'sync-2pc');
    await old.dw.put({ id: 'before', text: 'kept', embedding });
    const next = await open(data, 't2', 'sync-2pc', { indexBinding: 'rebind' });
    try {
      await expect(old.dw.put({ id: 'after', text: 'refused', embedding })).rejects.toBeInstanceOf(
        IndexBindingError,
      );
      expect(await next.dw.get('after'), 'nothing committed').toBeUndefined();
      expect((await old.index.getVersions(['after'])).has('after'), 'compensated in the old index').toBe(
        false,
      );
      await expect(old.dw.put({ id: 'again', text: 'refused too', embedding })).rejects.toBeInstanceOf(
        IndexBindingError,
      );
    } finally {
      await next.dw.close();
      await old.dw.close({ drain: false, timeoutMs: 500 });
    }
  });
});

describe('a worker configured without the embedder the source is bound to', () => {
  it('stops delivering at the first record to embed instead of dead-lettering it', async () => {
    const data = new MemoryRelationalData();
    const vector = new MemoryVectorData();
    const open = (embedder?: HashingEmbedder) =>
      createDualWrite({
        relational: new MemoryRelationalStore({ data }),
        vector: new MemoryVectorStore({ dimension: DIM, data: vector }),
        embedder,
        strategy: 'async-queue',
        driftCheck: false,
        closeStores: false,
        delivery: { pollIntervalMs: 10 },
      });
    const writer = await open(new HashingEmbedder({ dimension: DIM }));
    writer.pause();
    const worker = await open();
    try {
      await writer.put({ id: 'e', text: 'the workers embed this' });
      await worker.flush({ timeoutMs: 1_000 }).catch(() => {});
      expect((await worker.stats()).deliveryStopped).toMatch(/has no embedder: configure that embedder here/);
      expect(await worker.stats()).toMatchObject({ deadLetters: 0, outboxDepth: 1 });
      writer.resume();
      await writer.flush({ timeoutMs: 5_000 });
      expect((await writer.syncStatus('e')).state).toBe('synced');
    } finally {
      await worker.close({ drain: false, timeoutMs: 500 });
      await writer.close();
    }
  });
});
