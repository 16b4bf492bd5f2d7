/**
 * What settles a delivery's leases — its ack, a recorded failure — lands even when the relational store blips
 * at that moment: the drainer retries it while the leases last, instead of leaving the entry leased until
 * `leaseMs` runs out (and sending a delivered one again).
 */
import { describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  createDualWrite,
  FaultyVectorStore,
  HashingEmbedder,
  type OutboxAck,
  type OutboxFailure,
  PermanentBackendError,
} from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

/** A reference store whose next `failures` acks (or failure records) throw `error` (nothing committed). */
class AckFailingStore extends MemoryRelationalStore {
  constructor(
    public failures: number,
    readonly error: () => Error,
    readonly method: 'ackOutbox' | 'failOutbox' = 'ackOutbox',
  ) {
    super();
  }

  #maybeFail(method: string): void {
    if (method !== this.method || this.failures === 0) return;
    this.failures--;
    throw this.error();
  }

  override async ackOutbox(acks: readonly OutboxAck[], now: number) {
    this.#maybeFail('ackOutbox');
    return super.ackOutbox(acks, now);
  }

  override async failOutbox(failure: OutboxFailure) {
    this.#maybeFail('failOutbox');
    return super.failOutbox(failure);
  }
}

async function setUp(relational: AckFailingStore) {
  const vector = new FaultyVectorStore(new MemoryVectorStore({ dimension: DIM }));
  const errors: string[] = [];
  const dw = await createDualWrite({
    relational,
    vector,
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy: 'async-queue',
    // A lease far longer than the test: an ack given up on would leave the entry pending throughout.
    delivery: { pollIntervalMs: 5, leaseMs: 60_000 },
    driftCheck: false,
  });
  dw.events.on('drain-error', ({ error }) => errors.push(error));
  return { dw, vector, errors };
}

describe('acknowledgement retries', () => {
  it('an ack failing while the database is unreachable is retried until it lands: one delivery, outbox empty', async () => {
    const relational = new AckFailingStore(
      3,
      () => new BackendUnavailableError('connection refused', { component: 'memory' }),
    );
    const { dw, vector, errors } = await setUp(relational);
    try {
      await dw.put({ id: 'a', text: 'delivered during a blip' });
      const flushed = await dw.flush({ timeoutMs: 5_000 });
      expect(flushed).toMatchObject({ pending: 0, deadLetters: 0 });
      expect(relational.failures, 'every injected failure was hit').toBe(0);
      expect(vector.callCount('upsert'), 'sent once, not again after a lease ran out').toBe(1);
      expect(errors.filter((e) => e.startsWith('settlement retried'))).toHaveLength(3);
      expect((await dw.stats()).leasesLost).toBe(0);
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  });

  it('recording a failed delivery is retried too: the entry retries and is delivered without waiting for its lease', async () => {
    const relational = new AckFailingStore(
      2,
      () => new BackendUnavailableError('connection reset', { component: 'memory' }),
      'failOutbox',
    );
    const { dw, vector, errors } = await setUp(relational);
    try {
      vector.failNext(1);
      await dw.put({ id: 'c', text: 'first call fails, then the failure record twice' });
      const flushed = await dw.flush({ timeoutMs: 5_000 });
      expect(flushed).toMatchObject({ pending: 0, deadLetters: 0 });
      expect(relational.failures, 'every injected failure was hit').toBe(0);
      expect(vector.callCount('upsert', { includeFailed: true }), 'one failed call, one delivery').toBe(2);
      expect(errors.filter((e) => e.startsWith('settlement retried'))).toHaveLength(2);
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  });

  it('a permanent error is not retried (the entry stays leased for a later claim)', async () => {
    const relational = new AckFailingStore(
      1,
      () => new PermanentBackendError('corrupt page', { component: 'memory' }),
    );
    const { dw, errors } = await setUp(relational);
    try {
      await dw.put({ id: 'b', text: 'ack fails for good' });
      await expect.poll(() => errors.length, { timeout: 5_000 }).toBeGreaterThan(0);
      expect(errors.some((e) => e.startsWith('settlement retried'))).toBe(false);
      expect((await relational.outboxStats(Date.now())).depth, 'still pending').toBe(1);
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  });
});
