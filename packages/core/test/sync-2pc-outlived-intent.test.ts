/**
 * A sync-2pc writer that outlives its intent's TTL (its process stopped, a vector call slower than the TTL):
 * recovery has rolled the write back and the record may since have been rewritten, so neither its vector write
 * nor its commit may land over what happened meanwhile.
 *
 * - Its vector write is version-fenced: landing after a newer, acknowledged state of the id, it is refused. Before,
 *   a writer SIGSTOPped between its prepare and its vector write and killed right after the write landed left its
 *   older state in the index while SQL, `syncStatus` and the periodic checks said synced (a break-it round on
 *   SQLite + LanceDB, 2 of 2 runs).
 * - Its commit is refused with a `ConflictError` once its intent is gone. Before, recovery's repair found the
 *   writer's uncommitted version in the index, rewrote the record above it, and the late commit then returned
 *   success for a write the source of truth no longer held.
 */
import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  createDualWrite,
  type DeleteOptions,
  type DualWrite,
  HashingEmbedder,
  type UpsertOptions,
  type UpsertReport,
  type VectorRecord,
  VectorStoreWrapper,
  verifyConsistency,
} from '../src/index.js';
import { MemoryRelationalData, MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';
import { FrozenCalls } from './support/held-then-gone.js';

const DIM = 8;
const DELIVERY = { intentTtlMs: 150, recoveryIntervalMs: 30, pollIntervalMs: 10 };

/** The next upsert of `id` lands, then its answer is held until {@link release}: the writer stalls before its commit. */
class StallsAfterLanding extends VectorStoreWrapper {
  armed = true;
  landed = false;
  release!: () => void;
  readonly #released = new Promise<void>((resolve) => {
    this.release = resolve;
  });
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
    const report = await super.upsert(records, options);
    if (this.armed && records.some((r) => r.id === this.id)) {
      this.armed = false;
      this.landed = true;
      await this.#released;
    }
    return report;
  }
}

async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The index equals the source of truth. */
async function expectNoDrift(data: MemoryRelationalData, index: MemoryVectorStore): Promise<void> {
  expect(await verifyConsistency(new MemoryRelationalStore({ data }), index)).toMatchObject({
    lost: 0,
    stale: 0,
    mismatched: 0,
    orphans: 0,
  });
}

/** Two sync-2pc processes over one source of truth and one index; the first writes through `wrapped`. */
async function twoProcesses(wrap: (index: MemoryVectorStore) => VectorStoreWrapper): Promise<{
  index: MemoryVectorStore;
  slow: DualWrite;
  live: DualWrite;
  data: MemoryRelationalData;
  closeBoth: () => Promise<void>;
}> {
  const data = new MemoryRelationalData();
  const index = new MemoryVectorStore({ dimension: DIM });
  const embedder = new HashingEmbedder({ dimension: DIM });
  const open = (vector: MemoryVectorStore | VectorStoreWrapper) =>
    createDualWrite({
      relational: new MemoryRelationalStore({ data }),
      vector,
      embedder,
      strategy: 'sync-2pc',
      delivery: DELIVERY,
      driftCheck: false,
      closeStores: false,
    });
  const slow = await open(wrap(index));
  const live = await open(index);
  const closeBoth = async () => {
    await live.close({ timeoutMs: 2_000 });
    await slow.close({ drain: false, timeoutMs: 300 }).catch(() => {});
  };
  return { index, data, slow, live, closeBoth };
}

describe('sync-2pc: a writer that outlives its intent', () => {
  it('cannot land its vector write over a newer, acknowledged state of its id', async () => {
    let frozen!: FrozenCalls;
    const { index, slow, live, closeBoth } = await twoProcesses((inner) => {
      frozen = new FrozenCalls(inner, 'x', ['upsert', 'delete']);
      return frozen;
    });
    try {
      void slow.put({ id: 'x', text: 'the old state' }).catch(() => {});
      await until(() => frozen.call.held, 'the vector write to be held');
      slow.pause(); // the whole process is stopped: its worker delivers nothing either
      await new Promise((r) => setTimeout(r, 400)); // past the TTL: recovery resolved the intent
      const newer = await live.put({ id: 'x', text: 'the newer, acknowledged state' });
      expect(await live.syncStatus('x')).toMatchObject({ state: 'synced', version: newer.version });
      frozen.call.release();
      await frozen.call.untilLanded();
      expect((await index.getVersions(['x'])).get('x'), 'the index keeps the newer version').toBe(
        newer.version,
      );
      expect((await index.getRecords!(['x'])).get('x')?.text).toBe('the newer, acknowledged state');
    } finally {
      await closeBoth();
    }
  });

  it.each([
    ['put', (dw: DualWrite) => dw.put({ id: 'x', text: 'never committed' })],
    ['delete', (dw: DualWrite) => dw.delete('x')],
  ])(
    'cannot land a %s recovery rolled back, with no newer write of the id (its process died before its commit)',
    async (_, write) => {
      let frozen!: FrozenCalls;
      const { index, data, slow, live, closeBoth } = await twoProcesses((inner) => {
        frozen = new FrozenCalls(inner, 'x', ['upsert', 'delete']);
        return frozen;
      });
      try {
        await live.put({ id: 'x', text: 'the committed state' });
        void write(slow).catch(() => {});
        await until(() => frozen.call.held, 'the vector write to be held');
        slow.pause(); // the whole process is stopped: its worker delivers nothing either
        // Past the TTL: the live process's recovery rolls the intent back and delivers the committed state.
        await new Promise((r) => setTimeout(r, 400));
        await live.flush({ timeoutMs: 5_000 });
        frozen.call.release();
        await frozen.call.untilLanded();
        const committed = (await live.get('x'))!;
        expect(committed.text).toBe('the committed state');
        const status = await live.syncStatus('x');
        expect(status).toMatchObject({ state: 'synced', version: committed.version });
        expect((await index.getVersions(['x'])).get('x'), 'the index holds what SQL says is synced').toBe(
          committed.version,
        );
        expect((await index.getRecords!(['x'])).get('x')?.text).toBe('the committed state');
        await expectNoDrift(data, index);
      } finally {
        await closeBoth();
      }
    },
  );

  it('is refused at its commit once recovery rolled it back, and both stores keep the state before it', async () => {
    let stall!: StallsAfterLanding;
    const { index, data, slow, live, closeBoth } = await twoProcesses((inner) => {
      stall = new StallsAfterLanding(inner, 'x');
      return stall;
    });
    try {
      stall.armed = false;
      await slow.put({ id: 'x', text: 'the committed state' });
      stall.armed = true;
      const late = slow.put({ id: 'x', text: 'a write that outlived its intent' });
      const outcome = late.then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
      await until(() => stall.landed, 'the uncommitted version to land');
      const uncommitted = (await index.getVersions(['x'])).get('x')!;
      // Recovery resolves the intent; the repair finds the uncommitted version in the index and rewrites the
      // record above it.
      await until(
        async () => ((await index.getVersions(['x'])).get('x') ?? 0) > uncommitted,
        'the repair to rewrite the record above the uncommitted version',
      );
      stall.release();
      const settled = await outcome;
      expect(settled, 'the late commit was acknowledged').toHaveProperty('error');
      expect((settled as { error: unknown }).error).toBeInstanceOf(ConflictError);
      expect((settled as { error: Error }).error.message).toMatch(/intentTtlMs/);
      await live.flush({ timeoutMs: 5_000 });
      expect(await live.get('x')).toMatchObject({ text: 'the committed state' });
      expect((await index.getRecords!(['x'])).get('x')?.text).toBe('the committed state');
      await expectNoDrift(data, index);
    } finally {
      await closeBoth();
    }
  });
});
