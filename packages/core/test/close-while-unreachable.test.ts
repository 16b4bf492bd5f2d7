/**
 * `close()` with the source of truth unreachable (a database restart, a killed connection) still stops
 * everything and closes both stores, and says what happened in its report instead of rejecting — a process
 * shutting down must not leak its pool or crash on the way out. Nothing accepted is lost: it is in the outbox.
 */
import { describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  ClosedError,
  createDualWrite,
  HashingEmbedder,
  type OutboxStats,
  TransientBackendError,
} from '../src/index.js';
import { MemoryRelationalData, MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

/** A reference store whose reads of the outbox gauges fail while `down`, and which records its `close()`. */
class GaugesDownStore extends MemoryRelationalStore {
  down = false;
  closed = false;

  override async outboxStats(now: number): Promise<OutboxStats> {
    if (this.down) throw new BackendUnavailableError('connection terminated', { component: 'test' });
    return super.outboxStats(now);
  }

  override async close(): Promise<void> {
    this.closed = true;
    await super.close();
  }
}

/** A reference vector store that records its `close()`. */
class ClosingVectorStore extends MemoryVectorStore {
  closed = false;

  override async close(): Promise<void> {
    this.closed = true;
    await super.close();
  }
}

async function setUp(data = new MemoryRelationalData()) {
  const relational = new GaugesDownStore({ data });
  const vector = new ClosingVectorStore({ dimension: DIM });
  const dw = await createDualWrite({
    relational,
    vector,
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy: 'batch',
    delivery: { pollIntervalMs: 5 },
    driftCheck: false,
  });
  return { dw, relational, vector };
}

describe('close() with the source of truth unreachable', () => {
  it.each([true, false])(
    'drain: %s — resolves with the error, closes both stores, keeps the outbox',
    async (drain) => {
      const data = new MemoryRelationalData();
      const { dw, relational, vector } = await setUp(data);
      dw.pause();
      await dw.putMany([
        { id: 'a', text: 'alpha' },
        { id: 'b', text: 'beta' },
      ]);
      relational.down = true;

      const report = await dw.close({ drain, timeoutMs: 2_000 });

      expect(report.drained).toBe(false);
      expect(report.remaining).toBeNull();
      expect(report.deadLetters).toBeNull();
      expect(report.error).toBeInstanceOf(BackendUnavailableError);
      expect(relational.closed, 'the relational store was closed').toBe(true);
      expect(vector.closed, 'the vector store was closed').toBe(true);
      await expect(dw.put({ id: 'c', text: 'gamma' })).rejects.toBeInstanceOf(ClosedError);
      expect(await dw.close(), 'a second close returns the first report').toBe(report);
      // What was accepted is still in the outbox: the next start delivers it.
      const next = await setUp(data);
      expect(await next.dw.flush({ timeoutMs: 5_000 })).toMatchObject({ pending: 0, deadLetters: 0 });
      expect((await next.vector.getVersions(['a', 'b'])).size).toBe(2);
      await next.dw.close();
    },
  );

  it('paused: does not drain unless asked, so it does not wait out timeoutMs for deliveries it will not make', async () => {
    const { dw } = await setUp();
    dw.pause();
    await dw.put({ id: 'a', text: 'alpha' });
    const started = Date.now();
    const report = await dw.close({ timeoutMs: 20_000 });
    expect(report, 'left in the outbox, no timeout').toEqual({
      drained: false,
      remaining: 1,
      deadLetters: 0,
    });
    expect(Date.now() - started, 'returned without waiting for the drain timeout').toBeLessThan(10_000);
  });

  it('reachable: counts what is left and reports no error', async () => {
    const { dw } = await setUp();
    dw.pause();
    await dw.put({ id: 'a', text: 'alpha' });
    const report = await dw.close({ drain: false });
    expect(report).toEqual({ drained: false, remaining: 1, deadLetters: 0 });
  });
});

/**
 * A reference vector store that refuses, as a transient failure, any upsert carrying an id in `refused`, and
 * holds every other upsert until `open` resolves.
 */
class GatedVectorStore extends MemoryVectorStore {
  readonly refused = new Set<string>();
  open = () => {};
  readonly #gate = new Promise<void>((resolve) => {
    this.open = resolve;
  });

  override async upsert(...args: Parameters<MemoryVectorStore['upsert']>) {
    if (args[0].some((r) => this.refused.has(r.id)))
      throw new TransientBackendError('refused for the test', { component: 'test' });
    await this.#gate;
    return super.upsert(...args);
  }
}

describe('close() with another process still writing', () => {
  it('drained says this close delivered what was accepted before it; a later write of another process is counted, not blamed', async () => {
    const data = new MemoryRelationalData();
    const vector = new GatedVectorStore({ dimension: DIM });
    vector.refused.add('late');
    const common = {
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'async-queue' as const,
      delivery: { pollIntervalMs: 5 },
      driftCheck: false as const,
      closeStores: false,
    };
    const worker = await createDualWrite({ ...common, relational: new MemoryRelationalStore({ data }) });
    const writer = await createDualWrite({
      ...common,
      relational: new MemoryRelationalStore({ data }),
      deliver: false,
    });
    await worker.put({ id: 'mine', text: 'accepted before close' });
    // The other process's write lands while this one drains (its own write held in the index call); the write
    // cannot be delivered yet.
    const closing = worker.close({ timeoutMs: 3_000 });
    await new Promise((r) => setTimeout(r, 50));
    await writer.put({ id: 'late', text: 'written by another process during the close' });
    vector.open();
    const report = await closing;
    expect(report.error).toBeUndefined();
    expect(report.drained, 'what this process accepted before close() was delivered').toBe(true);
    expect(report.remaining, 'the other process’s write is still pending, and counted').toBe(1);
    expect((await vector.getVersions(['mine'])).has('mine')).toBe(true);
    await writer.close({ drain: false });
  });
});

describe('close() of a writer-only process', () => {
  const open = (data: MemoryRelationalData, vector: MemoryVectorStore) =>
    createDualWrite({
      relational: new MemoryRelationalStore({ data }),
      vector,
      strategy: 'batch',
      deliver: false,
      driftCheck: false,
      closeStores: false,
    });

  it('returns once its writes are in, without waiting for workers; drain: true waits for them', async () => {
    const data = new MemoryRelationalData();
    const vector = new MemoryVectorStore({ dimension: DIM });
    const writer = await open(data, vector);
    await writer.put({ id: 'a', text: 'left to the workers', embedding: [1, 0, 0, 0, 0, 0, 0, 0] });
    const report = await writer.close({ timeoutMs: 5_000 });
    expect(report).toEqual({ drained: false, remaining: 1, deadLetters: 0 });

    const waiting = await open(data, vector);
    const started = Date.now();
    const waited = await waiting.close({ drain: true, timeoutMs: 200 });
    expect(waited.drained, 'no worker ran').toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });
});
