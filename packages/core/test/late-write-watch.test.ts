/**
 * A vector write the client gave up on (a timeout) can still land — the server, or a proxy, held the request —
 * after a newer state of its record was delivered and acknowledged. A store without a version fence (Chroma)
 * takes it: the index holds the older state while the outbox is empty and everything reads synced (a break-it
 * round: 5 of 5 runs, under each strategy). The facade looks at such ids again after the failure and repairs
 * what a late landing left behind — its own failed writes, and the writes another process may have left in
 * flight: a worker's whose expired lease it took over, a sync-2pc writer's whose intent it rolled back. A store
 * with a fence is not watched: it refuses the older state itself.
 */
import { describe, expect, it } from 'vitest';
import type { UpsertOptions, UpsertReport, VectorStore } from '../src/contracts/vector-store.js';
import {
  createDualWrite,
  TransientBackendError,
  type VectorRecord,
  VectorStoreWrapper,
} from '../src/index.js';
import { LATE_WRITE_CHECKS_MS } from '../src/integrity/late-write-watch.js';
import { MemoryRelationalData, MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';
import { FrozenCalls } from './support/held-then-gone.js';

const DIM = 4;
const HELD_MS = 1_000;

/**
 * The memory store without its version fence (every upsert unconditional, like Chroma's), whose next upsert
 * carrying the text `holdText` fails at once as a timeout and reaches the index only {@link HELD_MS} later.
 */
class LateLandingStore extends VectorStoreWrapper {
  holdText: string | undefined;
  landed = false;
  constructor(inner: VectorStore) {
    super(inner);
  }
  override get versionFence(): boolean {
    return this.fenced;
  }
  fenced = false;
  override async upsert(
    records: readonly VectorRecord[],
    options?: UpsertOptions,
  ): Promise<UpsertReport | undefined> {
    const fence = this.fenced ? options : undefined;
    if (this.holdText !== undefined && records.some((r) => r.text === this.holdText)) {
      this.holdText = undefined;
      const held = records.map((r) => ({ ...r }));
      setTimeout(() => {
        void this.inner.upsert(held, fence).then(() => {
          this.landed = true;
        });
      }, HELD_MS);
      throw new TransientBackendError('request timed out after 1500 ms');
    }
    return this.inner.upsert(records, fence);
  }
}

async function facade(fenced: boolean) {
  const vector = new LateLandingStore(new MemoryVectorStore({ dimension: DIM }));
  vector.fenced = fenced;
  const relational = new MemoryRelationalStore();
  const dw = await createDualWrite({
    relational,
    vector,
    strategy: 'async-queue',
    driftCheck: false,
    delivery: { pollIntervalMs: 20 },
  });
  return { dw, vector, relational };
}

const embedding = (x: number) => [x, 1, 0, 0];

describe('a vector write that times out and lands late', () => {
  it('is repaired on a store without a version fence', async () => {
    const { dw, vector } = await facade(false);
    try {
      await dw.put({ id: 'x', text: 'v1', embedding: embedding(1) });
      await dw.flush({ timeoutMs: 5_000 });
      vector.holdText = 'v2';
      await dw.put({ id: 'x', text: 'v2', embedding: embedding(2) });
      await new Promise((r) => setTimeout(r, 100)); // the v2 delivery fails
      const v3 = await dw.put({ id: 'x', text: 'v3', embedding: embedding(3) });
      await dw.flush({ timeoutMs: 5_000 });
      while (!vector.landed) await new Promise((r) => setTimeout(r, 20));
      expect(
        (await vector.getRecords!(['x'])).get('x')?.text,
        'the late v2 replaced the acknowledged v3',
      ).toBe('v2');
      // Looked at again LATE_WRITE_CHECKS_MS[0] after the failure: repaired.
      await new Promise((r) => setTimeout(r, LATE_WRITE_CHECKS_MS[0]!));
      await dw.flush({ timeoutMs: 5_000 });
      const row = (await vector.getRecords!(['x'])).get('x');
      expect([row?.text, row?.version]).toEqual(['v3', v3.version]);
      expect((await dw.stats()).lateWritesRepaired).toBe(1);
    } finally {
      await dw.close();
    }
  });

  it('is not watched on a store with a version fence (it refuses the older state)', async () => {
    const { dw, vector } = await facade(true);
    try {
      vector.holdText = 'v2';
      await dw.put({ id: 'x', text: 'v2', embedding: embedding(2) });
      await new Promise((r) => setTimeout(r, 100));
      await dw.put({ id: 'x', text: 'v3', embedding: embedding(3) });
      await dw.flush({ timeoutMs: 5_000 });
      while (!vector.landed) await new Promise((r) => setTimeout(r, 20));
      expect((await vector.getRecords!(['x'])).get('x')?.text, 'the fence refused the late v2').toBe('v3');
      await new Promise((r) => setTimeout(r, LATE_WRITE_CHECKS_MS[0]!));
      expect((await dw.stats()).lateWritesRepaired).toBe(0);
    } finally {
      await dw.close();
    }
  });

  it("is repaired when it was a dead worker's, whose lease this process took over", async () => {
    const { dw, vector, relational } = await facade(false);
    try {
      await dw.put({ id: 'x', text: 'v0', embedding: embedding(0) });
      await dw.flush({ timeoutMs: 5_000 });
      // Another worker claims v1 and sends it, then dies before its ack: the request is held in the network.
      dw.pause();
      await dw.put({ id: 'x', text: 'v1', embedding: embedding(1) });
      const [dead] = await relational.claimOutbox({
        owner: 'dead',
        limit: 10,
        leaseMs: 300,
        now: Date.now(),
      });
      expect(dead?.version).toBeDefined();
      const held: VectorRecord = {
        id: 'x',
        text: 'v1',
        embedding: embedding(1),
        metadata: {},
        version: dead!.version,
      };
      const v2 = await dw.put({ id: 'x', text: 'v2', embedding: embedding(2) });
      dw.resume();
      await dw.flush({ timeoutMs: 5_000 }); // after the dead lease ran out, this process took the entry over
      expect((await vector.getRecords!(['x'])).get('x')?.text).toBe('v2');
      await vector.upsert([held]); // the dead worker's write lands
      expect((await vector.getRecords!(['x'])).get('x')?.text, 'the late v1 replaced v2').toBe('v1');
      // The watch's first look (2 s), or its second (10 s) when a loaded machine had the entry still in flight
      // then (a CI run beside other work); no periodic check runs here (`driftCheck: false`).
      const deadline = Date.now() + LATE_WRITE_CHECKS_MS[1]! + 5_000;
      let row = (await vector.getRecords!(['x'])).get('x');
      while (row?.text !== 'v2' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        row = (await vector.getRecords!(['x'])).get('x');
      }
      await dw.flush({ timeoutMs: 5_000 });
      row = (await vector.getRecords!(['x'])).get('x');
      expect([row?.text, row?.version]).toEqual(['v2', v2.version]);
      expect(await dw.stats()).toMatchObject({ lateWritesRepaired: 1, leasesTakenOver: 1 });
    } finally {
      await dw.close();
    }
  });

  it('is repaired when it was an abandoned sync-2pc write, whose intent this process rolled back', async () => {
    const data = new MemoryRelationalData();
    const unfenced = new LateLandingStore(new MemoryVectorStore({ dimension: DIM }));
    const frozen = new FrozenCalls(unfenced, 'x', ['upsert']);
    const open = (vector: VectorStore) =>
      createDualWrite({
        relational: new MemoryRelationalStore({ data }),
        vector,
        strategy: 'sync-2pc',
        delivery: { intentTtlMs: 150, recoveryIntervalMs: 30, pollIntervalMs: 10 },
        driftCheck: false,
        closeStores: false,
      });
    const stopped = await open(frozen);
    const live = await open(unfenced);
    try {
      await live.put({ id: 'x', text: 'committed', embedding: embedding(1) });
      void stopped.put({ id: 'x', text: 'never committed', embedding: embedding(2) }).catch(() => {});
      while (!frozen.call.held) await new Promise((r) => setTimeout(r, 5));
      stopped.pause(); // the writer's process is stopped with its vector write in flight
      await new Promise((r) => setTimeout(r, 400)); // past the TTL: the live process rolls the intent back
      await live.flush({ timeoutMs: 5_000 });
      frozen.call.release(); // the abandoned write lands, unfenced
      await frozen.call.untilLanded();
      expect((await unfenced.getRecords!(['x'])).get('x')?.text).toBe('never committed');
      await new Promise((r) => setTimeout(r, LATE_WRITE_CHECKS_MS[0]!));
      await live.flush({ timeoutMs: 5_000 });
      const row = (await unfenced.getRecords!(['x'])).get('x');
      expect(row?.text, 'the acknowledged state is back').toBe('committed');
      const source = await live.get('x');
      expect([source?.text, row?.version], 'the index holds the source of truth').toEqual([
        'committed',
        source?.version,
      ]);
    } finally {
      await live.close({ timeoutMs: 2_000 });
      await stopped.close({ drain: false, timeoutMs: 300 }).catch(() => {});
    }
  });

  describe('a sync-2pc write that timed out, in a process that dies before its watch looks', () => {
    const open = (data: MemoryRelationalData, vector: VectorStore, onVectorFailure?: 'defer-to-outbox') =>
      createDualWrite({
        relational: new MemoryRelationalStore({ data }),
        vector,
        strategy: onVectorFailure ? { name: 'sync-2pc', onVectorFailure } : 'sync-2pc',
        delivery: { intentTtlMs: 150, recoveryIntervalMs: 30, pollIntervalMs: 10 },
        driftCheck: false,
        closeStores: false,
      });
    const textOf = async (vector: VectorStore) => (await vector.getRecords!(['x'])).get('x')?.text;

    it('is repaired by another process when the call failed (its intent is left to recovery)', async () => {
      const data = new MemoryRelationalData();
      const unfenced = new LateLandingStore(new MemoryVectorStore({ dimension: DIM }));
      const dying = await open(data, unfenced);
      const live = await open(data, unfenced);
      try {
        await live.put({ id: 'x', text: 'committed', embedding: embedding(1) });
        unfenced.holdText = 'never committed';
        await expect(
          dying.put({ id: 'x', text: 'never committed', embedding: embedding(2) }),
        ).rejects.toThrow(/timed out/);
        await dying.close({ drain: false, timeoutMs: 300 }); // its own watch of x ends with it
        while (!unfenced.landed) await new Promise((r) => setTimeout(r, 10));
        expect(await textOf(unfenced), 'the failed write landed late').toBe('never committed');
        await new Promise((r) => setTimeout(r, LATE_WRITE_CHECKS_MS[0]! + 300));
        await live.flush({ timeoutMs: 5_000 });
        const source = await live.get('x');
        const row = (await unfenced.getRecords!(['x'])).get('x');
        expect([row?.text, row?.version], 'the index holds the source of truth').toEqual([
          'committed',
          source?.version,
        ]);
      } finally {
        await live.close({ timeoutMs: 2_000 });
      }
    });

    it('is repaired by another process when the write was deferred to the outbox', async () => {
      const data = new MemoryRelationalData();
      const unfenced = new LateLandingStore(new MemoryVectorStore({ dimension: DIM }));
      const dying = await open(data, unfenced, 'defer-to-outbox');
      const live = await open(data, unfenced);
      try {
        unfenced.holdText = 'deferred';
        const result = await dying.put({ id: 'x', text: 'deferred', embedding: embedding(2) });
        expect(result.deferred).toBe(true);
        await dying.close({ drain: false, timeoutMs: 300 }); // its own watch of x ends with it
        await live.flush({ timeoutMs: 5_000 });
        await live.put({ id: 'x', text: 'newer', embedding: embedding(3) });
        while (!unfenced.landed) await new Promise((r) => setTimeout(r, 10));
        expect(await textOf(unfenced), 'the deferred write landed after the newer one').toBe('deferred');
        await new Promise((r) => setTimeout(r, LATE_WRITE_CHECKS_MS[0]! + 300));
        await live.flush({ timeoutMs: 5_000 });
        const source = await live.get('x');
        const row = (await unfenced.getRecords!(['x'])).get('x');
        expect([row?.text, row?.version], 'the index holds the source of truth').toEqual([
          'newer',
          source?.version,
        ]);
      } finally {
        await live.close({ timeoutMs: 2_000 });
      }
    });
  });

  it('gives back a write that fails while the process stops marked in doubt, so the next claim watches it', async () => {
    let fail!: (error: Error) => void;
    class FailsOnceStopping extends VectorStoreWrapper {
      override get versionFence(): boolean {
        return false;
      }
      override upsert(_records: readonly VectorRecord[]): Promise<UpsertReport | undefined> {
        return new Promise((_, reject) => {
          fail = reject;
        });
      }
    }
    const relational = new MemoryRelationalStore();
    const dw = await createDualWrite({
      relational,
      vector: new FailsOnceStopping(new MemoryVectorStore({ dimension: DIM })),
      strategy: 'async-queue',
      driftCheck: false,
      closeStores: false,
      delivery: { pollIntervalMs: 20, leaseMs: 1_000 },
    });
    await dw.put({ id: 'x', text: 'v1', embedding: embedding(1) });
    while (fail === undefined) await new Promise((r) => setTimeout(r, 5));
    const closing = dw.close({ timeoutMs: 2_000 });
    await new Promise((r) => setTimeout(r, 50));
    fail(new TransientBackendError('request timed out after 30000 ms')); // it may still land
    await closing;
    const [next] = await relational.claimOutbox({
      owner: 'next',
      limit: 10,
      leaseMs: 1_000,
      now: Date.now() + 1_500,
    });
    expect(next?.recordId).toBe('x');
    expect(next?.takenOver, 'the next claim knows the write may still land').toBe(true);
    await relational.close();
  });
});
