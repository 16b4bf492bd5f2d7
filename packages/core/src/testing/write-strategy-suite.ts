import { describe, expect, it } from 'vitest';
import { hasEmbeddingCache, type RelationalStore } from '../contracts/relational-store.js';
import type { VectorStore } from '../contracts/vector-store.js';
import type { StrategyName } from '../contracts/write-strategy.js';
import { HashingEmbedder } from '../embedders/hashing-embedder.js';
import { BackendUnavailableError, BackpressureError, ClosedError, TransientBackendError } from '../errors.js';
import { createDualWrite, type DualWrite } from '../facade/dualwrite.js';
import type { DualWriteOptions } from '../facade/dualwrite-options.js';
import { FaultyVectorStore } from '../faults/faulty-vector-store.js';
import { VectorStoreWrapper } from '../faults/vector-store-wrapper.js';
import type { DeliveryOptions } from '../outbox/delivery-options.js';
import { verifyConsistency } from '../reconcile/verify-consistency.js';
import type { StrategyConfig } from '../strategies/strategy-registry.js';

/** Real stores over one fixture's data. */
export interface StrategyBackends {
  relational: RelationalStore;
  vector: VectorStore;
}

/** A fixture for {@link writeStrategySuite}: real backends that can be closed and reopened. */
export interface WriteStrategyFixture {
  /** Opens new store objects over the fixture's data (same SQLite file, same index) — after a close too. */
  open(): Promise<StrategyBackends>;
  /** Removes the fixture's data. */
  cleanup(): Promise<void>;
}

/** Options of {@link writeStrategySuite}. */
export interface WriteStrategySuiteOptions {
  /** Strategies to run (default: all three). */
  strategies?: readonly StrategyName[];
  /** Vector dimension used by the suite (default 16). */
  dimension?: number;
}

/** Delivery knobs that keep the suite fast: short polls, tiny backoff, 3 attempts. */
export const FAST_DELIVERY: Partial<DeliveryOptions> = {
  pollIntervalMs: 10,
  leaseMs: 5_000,
  maxAttempts: 3,
  backoff: { baseMs: 5, maxMs: 50, factor: 2, jitter: 'full' },
  outageProbeMs: 20,
  maxOutageProbeMs: 100,
  intentTtlMs: 2_000,
  recoveryIntervalMs: 200,
};

/** What a write-strategy check gets: the strategy under test and helpers over a fresh fixture. */
export interface WriteStrategyContext {
  strategyName: StrategyName;
  dimension: number;
  embedder: HashingEmbedder;
  /**
   * Opens the facade over the fixture's backends (a new fixture unless one is given), the vector store
   * wrapped in a `FaultyVectorStore`, {@link FAST_DELIVERY}; closed and cleaned up after the check.
   */
  setup(
    extra?: Partial<DualWriteOptions> & { strategy?: StrategyConfig },
    fixture?: WriteStrategyFixture,
  ): Promise<{
    dw: DualWrite;
    vector: FaultyVectorStore;
    relational: RelationalStore;
    fixture: WriteStrategyFixture;
  }>;
  /** A record input without an embedding. */
  rec(
    id: string,
    text?: string,
    metadata?: Record<string, string | number | boolean>,
  ): {
    id: string;
    text: string;
    metadata: Record<string, string | number | boolean>;
  };
  /** Flushes, then asserts that the index holds exactly the live records at their versions. */
  expectConverged(
    dw: DualWrite,
    vector: VectorStore,
    relational: RelationalStore,
  ): Promise<Awaited<ReturnType<typeof verifyConsistency>>>;
}

/** Opens a fresh fixture (both stores, empty) for one check, its vector store of `dimension`. */
export type WriteStrategyFactory = (options: { dimension: number }) => Promise<WriteStrategyFixture>;

/** A promise and its resolver. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** A context for one check, and the cleanup of everything it opened. */
function checkContext(
  factory: WriteStrategyFactory,
  strategyName: StrategyName,
  dimension: number,
): { ctx: WriteStrategyContext; dispose(): Promise<void> } {
  const embedder = new HashingEmbedder({ dimension });
  const open: DualWrite[] = [];
  const fixtures: WriteStrategyFixture[] = [];
  const ctx: WriteStrategyContext = {
    strategyName,
    dimension,
    embedder,
    async setup(extra = {}, fixture) {
      const fx = fixture ?? (await factory({ dimension }));
      if (!fixture) fixtures.push(fx);
      const backends = await fx.open();
      const vector = new FaultyVectorStore(backends.vector);
      const dw = await createDualWrite({
        relational: backends.relational,
        vector,
        embedder,
        strategy: strategyName,
        delivery: FAST_DELIVERY,
        ...extra,
      });
      open.push(dw);
      return { dw, vector, relational: backends.relational, fixture: fx };
    },
    rec: (id, text = `text of ${id}`, metadata = {}) => ({ id, text, metadata }),
    async expectConverged(dw, vector, relational) {
      await dw.flush({ timeoutMs: 20_000 });
      const report = await verifyConsistency(relational, vector);
      expect(report, JSON.stringify(report.examples)).toMatchObject({ lost: 0, stale: 0, orphans: 0 });
      return report;
    },
  };
  return {
    ctx,
    async dispose() {
      for (const dw of open.splice(0)) await dw.close({ drain: false, timeoutMs: 2_000 }).catch(() => {});
      for (const f of fixtures.splice(0)) await f.cleanup();
    },
  };
}

/**
 * Every write-strategy check, by name: plain async functions over a {@link WriteStrategyContext} (the
 * strategy under test and a `setup` that opens the fixture's backends behind a `FaultyVectorStore`), like
 * `relationalStoreChecks` and `vectorStoreChecks`. {@link writeStrategySuite} registers each as a test per
 * strategy; {@link runWriteStrategyCheck} runs one on its own (e.g. against a deliberately broken store).
 */
export const writeStrategyChecks = {
  'every accepted write is in the index after flush': async (ctx: WriteStrategyContext) => {
    const { setup, rec, expectConverged } = ctx;
    const { dw, vector, relational } = await setup();
    const results = await dw.putMany(Array.from({ length: 40 }, (_, i) => rec(`doc-${i}`)));
    expect(results.every((r) => r.changed && typeof r.version === 'number')).toBe(true);
    for (let i = 40; i < 50; i++) await dw.put(rec(`doc-${i}`));
    const report = await expectConverged(dw, vector, relational);
    expect(report.records).toBe(50);
    expect(await vector.count()).toBe(50);
  },
  'updates and deletes converge': async (ctx: WriteStrategyContext) => {
    const { setup, rec, expectConverged } = ctx;
    const { dw, vector, relational } = await setup();
    await dw.putMany([rec('a'), rec('b'), rec('c')]);
    await dw.put(rec('a', 'a changed', { tag: 'x' }));
    await dw.delete('b');
    await expectConverged(dw, vector, relational);
    const versions = await vector.getVersions(['a', 'b', 'c']);
    expect(versions.has('b')).toBe(false);
    expect(versions.get('a')).toBe((await dw.get('a'))!.version);
    const [hit] = await dw.search('a changed', { k: 1 });
    expect(hit).toMatchObject({ id: 'a', text: 'a changed', metadata: { tag: 'x' } });
  },
  'same-id churn converges to the last state': async (ctx: WriteStrategyContext) => {
    const { setup, rec, expectConverged } = ctx;
    const { dw, vector, relational } = await setup();
    await dw.put(rec('churn', 'one'));
    await dw.put(rec('churn', 'two'));
    await dw.delete('churn');
    await dw.put(rec('churn', 'four'));
    const dup = await dw.putMany([
      rec('dup', 'first'),
      rec('other', 'x'),
      rec('dup', 'second'),
      rec('dup', 'last'),
    ]);
    // The last occurrence wins and is the only one written, under every strategy: one version for the id, which
    // every occurrence reports.
    expect(dup[0]).toMatchObject({ id: 'dup', changed: true });
    expect([dup[2], dup[3]]).toEqual([dup[0], dup[0]]);
    const again = await dw.putMany([rec('dup', 'last'), rec('dup', 'last again')]);
    expect(again[0]).toEqual(again[1]);
    expect(again[0]).toMatchObject({ changed: true, version: (await dw.get('dup'))!.version });
    await dw.putMany([rec('dup', 'last')]);
    const deleted = await dw.deleteMany(['other', 'other']);
    expect(deleted[1]).toEqual(deleted[0]);
    expect(deleted[0]).toMatchObject({ id: 'other', changed: true });
    await expectConverged(dw, vector, relational);
    expect((await dw.get('churn'))!.text).toBe('four');
    expect((await dw.get('dup'))!.text).toBe('last');
    const hits = await dw.search('four', { k: 5 });
    expect(hits.find((h) => h.id === 'churn')?.text).toBe('four');
  },
  'two writers of the same ids in opposite orders never deadlock, whichever write path each takes': async (
    ctx: WriteStrategyContext,
  ) => {
    const { setup, rec, expectConverged, strategyName, embedder } = ctx;
    const { dw, vector, relational } = await setup();
    // A second facade over the same store objects: its calls run concurrently with the first's on their own
    // connections (each facade serialises only its own writes of an id). Not a second store over the same
    // data: two SQLite connections in one process block each other's event loop.
    const other = await createDualWrite({
      relational,
      vector,
      embedder,
      strategy: strategyName,
      delivery: FAST_DELIVERY,
      closeStores: false,
      driftCheck: false,
    });
    // Twelve ids: a store that locks by something else than the id (MySQL's lock slots) orders some pairs
    // differently from the ids themselves, which is what a path locking one id at a time ran into.
    const ids = Array.from({ length: 12 }, (_, i) => `order-${i}`);
    for (let round = 0; round < 10; round++) {
      const forward = ids.map((id) => rec(id, `forward ${round}`));
      const backward = [...ids].reverse().map((id) => rec(id, `backward ${round}`));
      // The duplicate sends one call through the store's transaction path; the other may stay a batch.
      await Promise.all([dw.putMany([...forward, forward[0]!]), other.putMany(backward)]);
    }
    await other.close();
    await expectConverged(dw, vector, relational);
    const texts = new Set((await Promise.all(ids.map((id) => dw.get(id)))).map((r) => r?.text));
    expect(texts.size, 'each call commits all its records or none').toBe(1);
  },
  "sync-2pc: a compensation racing another writer's newer, delivered write never leaves the index behind":
    async (ctx: WriteStrategyContext) => {
      const { setup, rec, strategyName, embedder, expectConverged } = ctx;
      if (strategyName !== 'sync-2pc') return;
      const { dw, vector, relational } = await setup();
      await dw.put(rec('raced', 'before'));
      // A second writer (another process, in effect) whose vector write fails, and whose compensation — having
      // read SQL's state — is held until the first writer has committed and delivered a newer one.
      const reached = gate();
      const release = gate();
      class HeldCompensation extends VectorStoreWrapper {
        #calls = 0;
        override async upsert(...args: Parameters<VectorStore['upsert']>) {
          const call = ++this.#calls;
          if (call === 1) throw new TransientBackendError('injected: the vector write failed');
          if (call === 2) {
            // The compensation's restore (later calls are this facade's drainer's: not held).
            reached.open();
            await release.promise;
          }
          return super.upsert(...args);
        }
      }
      const other = await createDualWrite({
        relational,
        vector: new HeldCompensation(vector),
        embedder,
        strategy: 'sync-2pc',
        delivery: FAST_DELIVERY,
        closeStores: false,
        driftCheck: false,
      });
      try {
        const failed = other.put(rec('raced', 'compensated')).catch((error: unknown) => error);
        // The call must reach its compensation's restore (not settle before it).
        expect(await Promise.race([reached.promise.then(() => 'restoring'), failed])).toBe('restoring');
        await dw.put(rec('raced', 'newer'));
        await dw.flush();
        release.open();
        expect(await failed).toBeInstanceOf(TransientBackendError);
        await other.flush();
        await dw.flush();
      } finally {
        release.open();
        await other.close();
      }
      await expectConverged(dw, vector, relational);
      expect((await dw.get('raced'))?.text).toBe('newer');
    },
  'an unchanged put is a no-op; with an embedding cache the embedder is not called again for the same text':
    async (ctx: WriteStrategyContext) => {
      const { setup, rec } = ctx;
      const { dw, vector, relational } = await setup();
      const first = await dw.put(rec('same', 'stable text', { n: 1 }));
      await dw.flush();
      const calls = vector.callCount();
      const embedded = (await dw.stats()).embeddedTexts;
      const again = await dw.put(rec('same', 'stable text', { n: 1 }));
      expect(again).toMatchObject({ changed: false, version: first.version });
      await dw.flush();
      expect(vector.callCount()).toBe(calls);
      const meta = await dw.put(rec('same', 'stable text', { n: 2 }));
      expect(meta.changed).toBe(true);
      await dw.put(rec('other', 'stable text'));
      await dw.flush();
      if (hasEmbeddingCache(relational)) expect((await dw.stats()).embeddedTexts).toBe(embedded);
    },
  'search drops ghosts and stale versions, or flags stale ones': async (ctx: WriteStrategyContext) => {
    const { setup, rec, strategyName } = ctx;
    const { dw } = await setup();
    await dw.putMany([
      rec('keep', 'alpha beta'),
      rec('gone', 'alpha beta gamma'),
      rec('moved', 'alpha beta delta'),
    ]);
    await dw.flush();
    dw.pause();
    await dw.delete('gone');
    await dw.put(rec('moved', 'something else entirely'));
    const dropped = await dw.search('alpha beta', { k: 10 });
    expect(dropped.map((h) => h.id)).not.toContain('gone');
    if (strategyName === 'sync-2pc') {
      expect(dropped.map((h) => h.id)).not.toContain('gone');
    } else {
      expect(dropped.map((h) => h.id)).not.toContain('moved');
      const flagged = await dw.search('alpha beta', { k: 10, staleHits: 'flag' });
      const moved = flagged.find((h) => h.id === 'moved');
      expect(moved).toMatchObject({ stale: true, text: 'something else entirely' });
      expect(flagged.map((h) => h.id)).not.toContain('gone');
    }
    dw.resume();
    await dw.flush();
  },
  'transient vector failures are retried until they succeed': async (ctx: WriteStrategyContext) => {
    const { setup, rec, expectConverged, strategyName } = ctx;
    const { dw, vector, relational } = await setup();
    vector.failNext(2);
    if (strategyName === 'sync-2pc') {
      await expect(dw.put(rec('t1'))).rejects.toBeInstanceOf(TransientBackendError);
      expect(await dw.get('t1')).toBeUndefined();
      await dw.put(rec('t2'));
      await dw.put(rec('t1'));
    } else {
      await dw.putMany([rec('t1'), rec('t2')]);
    }
    await expectConverged(dw, vector, relational);
    expect(await dw.get('t1')).toBeDefined();
    if (strategyName !== 'sync-2pc') expect((await dw.stats()).retries).toBeGreaterThan(0);
  },
  'persistent failures are dead-lettered, and requeueing heals them': async (ctx: WriteStrategyContext) => {
    const { setup, rec, expectConverged, strategyName } = ctx;
    const { dw, vector, relational } = await setup();
    if (strategyName === 'sync-2pc') {
      // sync-2pc fails the call instead; its deferred mode uses the outbox like the others
      const deferred = await setup({
        strategy: { name: 'sync-2pc', onVectorFailure: 'defer-to-outbox' },
      });
      deferred.vector.failNext(1_000);
      const r = await deferred.dw.put(rec('dl'));
      expect(r.deferred).toBe(true);
      await deferred.dw.flush({ timeoutMs: 10_000 });
      expect(await deferred.dw.syncStatus('dl')).toMatchObject({ state: 'dead-lettered' });
      deferred.vector.failNext(0);
      expect(await deferred.dw.requeueDeadLetters()).toBe(1);
      await expectConverged(deferred.dw, deferred.vector, deferred.relational);
      expect(await deferred.dw.syncStatus('dl')).toMatchObject({ state: 'synced' });
      return;
    }
    vector.failNext(1_000);
    await dw.put(rec('dl'));
    await dw.flush({ timeoutMs: 10_000 });
    const status = await dw.syncStatus('dl');
    expect(status).toMatchObject({ state: 'dead-lettered', attempts: 3 });
    expect((await dw.listDeadLetters()).map((d) => d.recordId)).toEqual(['dl']);
    vector.failNext(0);
    expect(await dw.requeueDeadLetters(['dl'])).toBe(1);
    await expectConverged(dw, vector, relational);
    expect(await dw.syncStatus('dl')).toMatchObject({ state: 'synced' });
  },
  'a poison record goes to dead letter at once without blocking the others': async (
    ctx: WriteStrategyContext,
  ) => {
    const { setup, rec, expectConverged, strategyName } = ctx;
    const { dw, vector, relational } = await setup();
    vector.poisonId('poison');
    const records = Array.from({ length: 20 }, (_, i) => rec(`ok-${i}`));
    records.splice(7, 0, rec('poison'));
    if (strategyName === 'sync-2pc') {
      await expect(dw.putMany(records)).rejects.toMatchObject({ retryable: false });
      expect(await dw.get('ok-1')).toBeUndefined();
      await dw.putMany(records.filter((r) => r.id !== 'poison'));
    } else {
      await dw.putMany(records);
      await dw.flush({ timeoutMs: 10_000 });
      expect(await dw.syncStatus('poison')).toMatchObject({ state: 'dead-lettered', attempts: 1 });
      expect((await dw.stats()).deadLetters).toBe(1);
      vector.curePoison();
      await dw.requeueDeadLetters();
    }
    await expectConverged(dw, vector, relational);
  },
  'an outage pauses delivery without charging attempts': async (ctx: WriteStrategyContext) => {
    const { setup, rec, expectConverged, strategyName } = ctx;
    const { dw, vector, relational } = await setup();
    await dw.put(rec('before'));
    await dw.flush();
    vector.setDown(true);
    if (strategyName === 'sync-2pc') {
      await expect(dw.put(rec('during'))).rejects.toBeInstanceOf(BackendUnavailableError);
      expect(await dw.get('during')).toBeUndefined();
      vector.setDown(false);
      await expectConverged(dw, vector, relational);
      return;
    }
    for (let i = 0; i < 10; i++) await dw.put(rec(`during-${i}`));
    await new Promise((r) => setTimeout(r, 300));
    const stats = await dw.stats();
    expect(stats.deadLetters).toBe(0);
    expect(stats.outboxDepth).toBe(10);
    expect(stats.backendDown).toBe(true);
    vector.setDown(false);
    await expectConverged(dw, vector, relational);
    expect((await dw.stats()).deadLetters).toBe(0);
    expect((await relational.listDeadLetters({ limit: 10 })).length).toBe(0);
  },
  'close drains; a later start finishes what a non-draining close left': async (
    ctx: WriteStrategyContext,
  ) => {
    const { setup, rec, expectConverged, strategyName } = ctx;
    const first = await setup();
    await first.dw.putMany(Array.from({ length: 20 }, (_, i) => rec(`c-${i}`)));
    const report = await first.dw.close({ drain: true, timeoutMs: 10_000 });
    expect(report).toMatchObject({ drained: true, remaining: 0 });
    await expect(first.dw.put(rec('late'))).rejects.toBeInstanceOf(ClosedError);

    const second = await setup({}, first.fixture);
    second.dw.pause();
    if (strategyName !== 'sync-2pc') {
      await second.dw.putMany(Array.from({ length: 10 }, (_, i) => rec(`left-${i}`)));
      const left = await second.dw.close({ drain: false });
      expect(left.remaining).toBe(10);
    } else await second.dw.close({ drain: false });

    const third = await setup({}, first.fixture);
    const report3 = await expectConverged(third.dw, third.vector, third.relational);
    expect(report3.records).toBe(strategyName === 'sync-2pc' ? 20 : 30);
  },
  'reconcile finds missing, stale and orphan vectors and repairs them': async (ctx: WriteStrategyContext) => {
    const { setup, rec, expectConverged } = ctx;
    const { dw, vector, relational } = await setup();
    await dw.putMany(Array.from({ length: 12 }, (_, i) => rec(`r-${i}`)));
    await dw.flush();
    await vector.inner.delete(['r-0', 'r-1']);
    const r2 = (await dw.get('r-2'))!;
    await vector.inner.upsert([
      { id: 'r-2', embedding: r2.embedding!, text: 'old', metadata: {}, version: r2.version - 1 },
      { id: 'orphan', embedding: r2.embedding!, text: 'orphan', metadata: {}, version: 1 },
    ]);
    const dry = await dw.reconcile({ dryRun: true, pageSize: 5 });
    expect(dry).toMatchObject({ missing: 2, stale: 1, orphans: 1, repairsEnqueued: 0 });
    const fixed = await dw.reconcile({ pageSize: 5 });
    expect(fixed).toMatchObject({ missing: 2, stale: 1, orphans: 1, repairsEnqueued: 4 });
    await expectConverged(dw, vector, relational);
    expect(await dw.reconcile()).toMatchObject({ missing: 0, stale: 0, orphans: 0 });
  },
  'reports sync status and supports read-your-writes with awaitSynced': async (ctx: WriteStrategyContext) => {
    const { setup, rec } = ctx;
    const { dw } = await setup();
    expect(await dw.syncStatus('nobody')).toEqual({ id: 'nobody', state: 'absent' });
    const { version } = await dw.put(rec('ryw'));
    const [status] = await dw.awaitSynced(['ryw'], { timeoutMs: 10_000 });
    expect(status).toEqual({ id: 'ryw', state: 'synced', version, deleted: false });
    const hits = await dw.search('text of ryw', { k: 3 });
    expect(hits.map((h) => h.id)).toContain('ryw');
  },
  'backpressure fails fast when the outbox is deeper than the limit': async (ctx: WriteStrategyContext) => {
    const { setup, rec, strategyName } = ctx;
    const { dw } = await setup({ backpressure: { maxDepth: 5, mode: 'fail', depthCacheMs: 0 } });
    dw.pause();
    if (strategyName === 'sync-2pc') {
      // sync writes never queue: backpressure never triggers
      for (let i = 0; i < 8; i++) await dw.put(rec(`bp-${i}`));
      return;
    }
    for (let i = 0; i < 5; i++) await dw.put(rec(`bp-${i}`));
    const err = await dw.put(rec('bp-over')).catch((e) => e);
    expect(err).toBeInstanceOf(BackpressureError);
    expect(await dw.get('bp-over')).toBeUndefined();
    dw.resume();
    await dw.flush();
    await dw.put(rec('bp-over'));
  },
  'backpressure in wait mode holds a write until the backlog drains below the limit': async (
    ctx: WriteStrategyContext,
  ) => {
    const { setup, rec, strategyName } = ctx;
    if (strategyName === 'sync-2pc') return; // sync writes never queue
    const { dw } = await setup({
      backpressure: { maxDepth: 3, mode: 'wait', waitTimeoutMs: 10_000, depthCacheMs: 0 },
    });
    dw.pause();
    for (let i = 0; i < 3; i++) await dw.put(rec(`w-${i}`));
    let done = false;
    const held = dw.put(rec('w-held')).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 150));
    expect(done).toBe(false);
    dw.resume();
    await held;
    expect(await dw.get('w-held')).toBeDefined();
    const { deadLetters } = await dw.flush();
    expect(deadLetters).toBe(0);
  },
  'sample-mode reconciliation checks a share of pages and repairs what it finds': async (
    ctx: WriteStrategyContext,
  ) => {
    const { setup, rec, expectConverged } = ctx;
    const { dw, vector, relational } = await setup();
    await dw.putMany(Array.from({ length: 30 }, (_, i) => rec(`s-${String(i).padStart(2, '0')}`)));
    await dw.flush();
    await vector.inner.delete(['s-00', 's-29']);
    const none = await dw.reconcile({ mode: 'sample', sampleRate: 0.5, pageSize: 10, random: () => 0.9 });
    expect(none).toMatchObject({ mode: 'sample', checkedRecords: 0, missing: 0 });
    const all = await dw.reconcile({ mode: 'sample', sampleRate: 0.5, pageSize: 10, random: () => 0.1 });
    expect(all).toMatchObject({ checkedRecords: 30, missing: 2, repairsEnqueued: 2 });
    await expectConverged(dw, vector, relational);
  },
  'batching 250 changes makes at most 3 vector calls at batch size 100': async (
    ctx: WriteStrategyContext,
  ) => {
    const { setup, rec, expectConverged, embedder } = ctx;
    const { dw, vector, relational } = await setup({
      strategy: { name: 'batch', maxBatchSize: 100, maxDelayMs: 200 },
    });
    const records = Array.from({ length: 250 }, (_, i) => ({
      ...rec(`b-${i}`),
      embedding: embedder.embedOne(`b-${i}`),
    }));
    await dw.putMany(records);
    await expectConverged(dw, vector, relational);
    expect(vector.callCount('upsert')).toBeLessThanOrEqual(3);
    expect((await dw.stats()).vectorCalls).toBeLessThanOrEqual(3);
  },
} satisfies Record<string, (ctx: WriteStrategyContext) => Promise<void>>;

/** Name of one check in {@link writeStrategyChecks}. */
export type WriteStrategyCheckName = keyof typeof writeStrategyChecks;

/** Checks that concern one strategy only (the others skip them). */
export const WRITE_STRATEGY_CHECK_ONLY: Partial<Record<WriteStrategyCheckName, StrategyName>> = {
  'batching 250 changes makes at most 3 vector calls at batch size 100': 'batch',
};

/**
 * Runs one check for one strategy on fresh fixtures from `factory`, and always cleans up.
 * @throws the check's assertion error on a contract violation.
 */
export async function runWriteStrategyCheck(
  checkName: WriteStrategyCheckName,
  factory: WriteStrategyFactory,
  strategyName: StrategyName,
  dimension = 16,
): Promise<void> {
  const { ctx, dispose } = checkContext(factory, strategyName, dimension);
  try {
    await writeStrategyChecks[checkName](ctx);
  } finally {
    await dispose();
  }
}

/**
 * Runs the write-strategy contract against real backends for each strategy: every accepted write ends in
 * the index after `flush`; updates, deletes and same-id churn converge; injected failures are retried,
 * dead-lettered and healed by requeue; a poison record does not block others; outages are not charged;
 * `close` drains; search never returns ghosts; reconciliation repairs drift. One test per entry of
 * {@link writeStrategyChecks} and strategy.
 */
export function writeStrategySuite(
  name: string,
  factory: WriteStrategyFactory,
  suiteOptions: WriteStrategySuiteOptions = {},
): void {
  const dimension = suiteOptions.dimension ?? 16;
  const strategies = suiteOptions.strategies ?? (['sync-2pc', 'async-queue', 'batch'] as const);
  for (const strategyName of strategies) {
    describe(`${name} write strategy: ${strategyName}`, () => {
      for (const [checkName, check] of Object.entries(writeStrategyChecks)) {
        const only = WRITE_STRATEGY_CHECK_ONLY[checkName as WriteStrategyCheckName];
        if (only !== undefined && only !== strategyName) continue;
        it(checkName, async () => {
          const { ctx, dispose } = checkContext(factory, strategyName, dimension);
          try {
            await check(ctx);
          } finally {
            await dispose();
          }
        });
      }
    });
  }
}
