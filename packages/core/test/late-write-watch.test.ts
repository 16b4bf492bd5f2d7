/**
 * A vector write the client gave up on (a timeout) can still land — the server, or a proxy, held the request —
 * after a newer state of its record was delivered and acknowledged. A store without a version fence (Chroma)
 * takes it: the index holds the older state while the outbox is empty and everything reads synced (a break-it
 * round: 5 of 5 runs, under each strategy). The facade looks at such ids again after the failure and repairs
 * what a late landing left behind. A store with a fence is not watched: it refuses the older state itself.
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
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

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
  return { dw, vector };
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
});
