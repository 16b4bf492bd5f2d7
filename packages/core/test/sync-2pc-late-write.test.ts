/**
 * A sync-2pc write whose process stopped between its prepare and its vector write for longer than the intent's
 * TTL (recovery resolved the intent meanwhile) and died right after the write landed: the version fence keeps that
 * older state from overwriting the newer one another writer delivered and acknowledged in the meantime. Before,
 * the index held the older state while SQL, `syncStatus` and the periodic checks all said synced (a break-it
 * round with SIGSTOPped writer processes on SQLite + LanceDB, 2 of 2 runs).
 */
import { describe, expect, it } from 'vitest';
import {
  createDualWrite,
  HashingEmbedder,
  type UpsertOptions,
  type UpsertReport,
  type VectorRecord,
  VectorStoreWrapper,
} from '../src/index.js';
import { MemoryRelationalData, MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';
import { HeldThenGone } from './support/held-then-gone.js';

const DIM = 8;

/** Upserts of `id` are held, then land with nobody left to commit. */
class FrozenWriter extends VectorStoreWrapper {
  readonly call = new HeldThenGone();
  constructor(
    inner: MemoryVectorStore,
    private readonly id: string,
  ) {
    super(inner);
  }
  override async upsert(
    records: readonly VectorRecord[],
    options?: UpsertOptions,
  ): Promise<UpsertReport | undefined> {
    if (!records.some((r) => r.id === this.id)) return super.upsert(records, options);
    return this.call.run(() => super.upsert(records, options));
  }
}

describe('sync-2pc: a write that lands late', () => {
  it('never overwrites a newer, acknowledged state of its id', async () => {
    const data = new MemoryRelationalData();
    const index = new MemoryVectorStore({ dimension: DIM });
    const embedder = new HashingEmbedder({ dimension: DIM });
    const delivery = { intentTtlMs: 150, recoveryIntervalMs: 30 };
    const frozen = new FrozenWriter(index, 'x');
    const stopped = await createDualWrite({
      relational: new MemoryRelationalStore({ data }),
      vector: frozen,
      embedder,
      strategy: 'sync-2pc',
      delivery,
      driftCheck: false,
      closeStores: false,
    });
    const live = await createDualWrite({
      relational: new MemoryRelationalStore({ data }),
      vector: index,
      embedder,
      strategy: 'sync-2pc',
      delivery,
      driftCheck: false,
      closeStores: false,
    });
    try {
      void stopped.put({ id: 'x', text: 'the old state' }).catch(() => {});
      await new Promise((r) => setTimeout(r, 400)); // past the TTL: the live process's recovery resolved the intent
      const newer = await live.put({ id: 'x', text: 'the newer, acknowledged state' });
      expect(await live.syncStatus('x')).toMatchObject({ state: 'synced', version: newer.version });
      frozen.call.release();
      await frozen.call.untilLanded();
      expect((await index.getVersions(['x'])).get('x'), 'the index keeps the newer version').toBe(
        newer.version,
      );
      expect((await index.getRecords!(['x'])).get('x')?.text).toBe('the newer, acknowledged state');
    } finally {
      await live.close({ timeoutMs: 2_000 });
      await stopped.close({ drain: false, timeoutMs: 300 }).catch(() => {});
    }
  });
});
