/**
 * A delete delivered late — its worker stopped mid-call for longer than the lease, another worker delivered a
 * newer put of the id meanwhile, and the late worker died right after its delete landed — never removes the
 * newer state: the delete is version-fenced at its tombstone's version. Before, the index lost the record while SQL
 * said synced (a break-it round with SIGSTOPped worker processes on SQLite + LanceDB, 2 of 2 runs).
 */
import { describe, expect, it } from 'vitest';
import {
  createDualWrite,
  type DeleteOptions,
  HashingEmbedder,
  type OutboxLease,
  VectorStoreWrapper,
} from '../src/index.js';
import { MemoryRelationalData, MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';
import { FrozenCalls } from './support/held-then-gone.js';

const DIM = 8;

/** A process whose lease renewals stop while its vector call is frozen (the whole process was stopped). */
class StoppedRenewals extends MemoryRelationalStore {
  constructor(
    data: MemoryRelationalData,
    private readonly frozen: () => boolean,
  ) {
    super({ data });
  }
  override async renewOutbox(leases: readonly OutboxLease[], leaseUntil: number): Promise<string[]> {
    return this.frozen() ? [] : super.renewOutbox(leases, leaseUntil);
  }
}

describe('a delete that lands late', () => {
  it('never removes a newer, acknowledged state of its id', async () => {
    const data = new MemoryRelationalData();
    const index = new MemoryVectorStore({ dimension: DIM });
    const embedder = new HashingEmbedder({ dimension: DIM });
    const frozen = new FrozenCalls(index, 'x', ['delete']);
    const late = await createDualWrite({
      relational: new StoppedRenewals(data, () => frozen.call.held),
      vector: frozen,
      embedder,
      strategy: 'async-queue',
      delivery: { leaseMs: 300 },
      driftCheck: false,
      closeStores: false,
    });
    const other = await createDualWrite({
      relational: new MemoryRelationalStore({ data }),
      vector: index,
      embedder,
      strategy: 'async-queue',
      delivery: { leaseMs: 300 },
      driftCheck: false,
      closeStores: false,
    });
    try {
      other.pause();
      await late.put({ id: 'x', text: 'first' });
      await late.flush({ timeoutMs: 5_000 });
      await late.delete('x');
      while (!frozen.call.held) await new Promise((r) => setTimeout(r, 5));
      late.pause(); // the stopped process claims nothing more
      await new Promise((r) => setTimeout(r, 400)); // its lease runs out
      other.resume();
      const newer = await other.put({ id: 'x', text: 'put again, acknowledged' });
      await other.flush({ timeoutMs: 5_000 });
      expect(await other.syncStatus('x')).toMatchObject({ state: 'synced', version: newer.version });
      frozen.call.release();
      await frozen.call.untilLanded();
      expect((await index.getVersions(['x'])).get('x'), 'the newer state stays in the index').toBe(
        newer.version,
      );
    } finally {
      await other.close({ timeoutMs: 2_000 });
      await late.close({ drain: false, timeoutMs: 300 }).catch(() => {});
    }
  });
});
