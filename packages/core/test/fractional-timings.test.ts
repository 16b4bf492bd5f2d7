/**
 * Stores refuse a time that is not whole ms (`checkStoreTime`), so what core adds to its clock must be whole too.
 * A break-it round found two ways a fraction got through: a backend's `retryAfterMs` of 300.5 (the delivery's
 * failure was refused, its entry left leased for the whole lease and never charged) and a configured
 * `intentTtlMs` of 30000.5 (every sync-2pc write refused at its prepare).
 */
import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  createDualWrite,
  resolveDeliveryOptions,
  TransientBackendError,
} from '../src/index.js';
import { FaultyVectorStore, MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const LEASE_MS = 20_000;

describe('fractional timings become whole ms before they reach a store', () => {
  it('backoffDelay rounds a Retry-After up; the configured intervals are rounded', () => {
    expect(backoffDelay(1, { baseMs: 10, jitter: 'none' }, 300.5)).toBe(301);
    const delivery = resolveDeliveryOptions({
      intentTtlMs: 30_000.5,
      pollIntervalMs: 20.4,
      outageProbeMs: 0.2,
    });
    expect([
      delivery.intentTtlMs,
      delivery.pollIntervalMs,
      delivery.maxIdlePollMs,
      delivery.outageProbeMs,
    ]).toEqual([30_001, 20, 100, 1]);
  });

  it('a fractional Retry-After: the delivery is retried after it, charged once', async () => {
    const vector = new FaultyVectorStore(new MemoryVectorStore({ dimension: 2 }));
    const dw = await createDualWrite({
      relational: new MemoryRelationalStore(),
      vector,
      strategy: 'async-queue',
      delivery: { pollIntervalMs: 20, leaseMs: LEASE_MS },
      driftCheck: false,
    });
    try {
      vector.failNext(1, () => new TransientBackendError('429 (test)', { status: 429, retryAfterMs: 300.5 }));
      const started = Date.now();
      await dw.put({ id: 'a', text: 'retried after 301 ms', embedding: [1, 0] });
      await dw.flush({ timeoutMs: LEASE_MS / 4 });
      expect(Date.now() - started, 'retried after the Retry-After, not after the lease').toBeLessThan(
        LEASE_MS / 4,
      );
      expect((await dw.stats()).retries).toBe(1);
      expect((await dw.syncStatus('a')).state).toBe('synced');
    } finally {
      await dw.close({ drain: false });
    }
  });

  it('a fractional intentTtlMs: sync-2pc writes go through', async () => {
    const dw = await createDualWrite({
      relational: new MemoryRelationalStore(),
      vector: new MemoryVectorStore({ dimension: 2 }),
      strategy: 'sync-2pc',
      delivery: { intentTtlMs: 30_000.5 },
      driftCheck: false,
    });
    try {
      await dw.put({ id: 'a', text: 'prepared with a whole expiry', embedding: [1, 0] });
      expect((await dw.syncStatus('a')).state).toBe('synced');
    } finally {
      await dw.close({ drain: false });
    }
  });
});
