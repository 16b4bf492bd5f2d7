/**
 * A store that pushes wake-ups (`subscribeOutbox`) is polled only as a backstop, at `pollIntervalMs`. When the
 * store reports its wake-ups do not arrive (`listenerHealth().notificationsDelivered === false`: a pooler in
 * transaction mode in front of PostgreSQL), the drainer polls from 200 ms instead, backing off to
 * `pollIntervalMs` while idle: another process's write is delivered long before the backstop interval.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, HashingEmbedder, type WakeUpHealth } from '../src/index.js';
import { MemoryRelationalData, MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;
const BACKSTOP_MS = 5_000;

/** A reference store whose subscription never fires, reporting `delivered` as its wake-ups' health. */
class SilentlySubscribedStore extends MemoryRelationalStore {
  claims = 0;
  constructor(
    data: MemoryRelationalData,
    public delivered: boolean,
  ) {
    super({ data });
    const claimOutbox = this.claimOutbox.bind(this);
    this.claimOutbox = (options) => {
      this.claims++;
      return claimOutbox(options);
    };
  }
  async subscribeOutbox(): Promise<() => Promise<void>> {
    return async () => {};
  }
  listenerHealth(): WakeUpHealth {
    return {
      subscriptions: 1,
      listening: true,
      reconnects: 0,
      lastNotificationAt: null,
      notificationsDelivered: this.delivered,
    };
  }
}

/**
 * Starts a worker on a store reporting `delivered` (switched to `deliveredLater` after 300 ms, if given),
 * then writes from a paused second facade and waits up to 2 s for the worker to deliver it.
 */
async function deliverFromElsewhere(
  delivered: boolean,
  deliveredLater = delivered,
): Promise<{ claims: number; deliveredAfterMs: number | null }> {
  const data = new MemoryRelationalData();
  const vector = new MemoryVectorStore({ dimension: DIM });
  const embedder = new HashingEmbedder({ dimension: DIM });
  const store = new SilentlySubscribedStore(data, delivered);
  const worker = await createDualWrite({
    relational: store,
    vector,
    embedder,
    strategy: 'async-queue',
    delivery: { pollIntervalMs: BACKSTOP_MS },
    driftCheck: false,
  });
  const writer = await createDualWrite({
    relational: new MemoryRelationalStore({ data }),
    vector,
    embedder,
    strategy: 'async-queue',
    driftCheck: false,
  });
  try {
    writer.pause(); // only the worker delivers, and nothing wakes it
    await new Promise((r) => setTimeout(r, 300)); // idle claims: at 0 ms, then 200 ms after
    store.delivered = deliveredLater;
    const started = performance.now();
    const { version } = await writer.put({ id: 'from-elsewhere', text: 'written by another process' });
    while (performance.now() - started < 2_000) {
      if ((await vector.getVersions(['from-elsewhere'])).get('from-elsewhere') === version)
        return { claims: store.claims, deliveredAfterMs: performance.now() - started };
      await new Promise((r) => setTimeout(r, 5));
    }
    return { claims: store.claims, deliveredAfterMs: null };
  } finally {
    for (const dw of [writer, worker]) await dw.close({ drain: false, timeoutMs: 2_000 });
  }
}

describe('pushed wake-ups reported missing', () => {
  it('trusts healthy wake-ups: polls only at the backstop interval', async () => {
    const { claims, deliveredAfterMs } = await deliverFromElsewhere(true);
    expect(deliveredAfterMs, 'nothing woke the worker and its backstop is 5 s away').toBeNull();
    expect(claims, 'one claim per delivery loop at start, then the 5 s backstop').toBeLessThanOrEqual(4);
  });

  it('polls from 200 ms when the store says wake-ups do not arrive', async () => {
    const { claims, deliveredAfterMs } = await deliverFromElsewhere(false);
    expect(deliveredAfterMs, 'picked up by the short poll, not the 5 s backstop').not.toBeNull();
    expect(deliveredAfterMs!).toBeLessThan(1_500);
    expect(claims, 'idle loops keep claiming').toBeGreaterThan(4);
  });

  it('notices wake-ups going missing during a long backstop wait, and polls short from then on', async () => {
    const { deliveredAfterMs } = await deliverFromElsewhere(true, false);
    expect(deliveredAfterMs, 'picked up within about a second, not after the 5 s backstop').not.toBeNull();
    expect(deliveredAfterMs!).toBeLessThan(1_900);
  });
});
