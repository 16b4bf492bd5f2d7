/**
 * While delivery keeps up with sequential writes on a store that pushes every process's writes as wake-ups
 * (PostgreSQL LISTEN/NOTIFY, checked by its heartbeat), each write costs one claim: the notification of this
 * store's own write wakes no second loop (the write woke one in-process already), a loop whose claim came back
 * short waits for the next wake-up instead of claiming again, and a busy loop does not claim what a sleeping
 * loop was woken for. Before, each write cost three claims, two of them empty: on PostgreSQL two round trips
 * per write beside the caller's on two cores. Another facade's write over the same store, and another
 * process's, still wake the drain at once.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, HashingEmbedder, type OutboxWakeUp, type WakeUpHealth } from '../src/index.js';
import { MemoryRelationalData, MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;
/** The poll backstop: far longer than the test, so only wake-ups can explain a prompt delivery. */
const BACKSTOP_MS = 60_000;

/** A reference store that notifies its subscribers after each enqueuing write, as PostgreSQL's NOTIFY does. */
class NotifyingStore extends MemoryRelationalStore {
  claims = 0;
  emptyClaims = 0;
  readonly #listeners = new Set<(wakeUp: OutboxWakeUp) => void>();
  constructor(data: MemoryRelationalData) {
    super({ data });
    const claimOutbox = this.claimOutbox.bind(this);
    this.claimOutbox = async (options) => {
      this.claims++;
      const leases = await claimOutbox(options);
      if (leases.length === 0) this.emptyClaims++;
      return leases;
    };
    // A transaction that enqueued notifies once it committed.
    const transaction = this.transaction.bind(this);
    this.transaction = async (fn) => {
      let enqueued = false;
      const result = await transaction((tx) =>
        fn(
          new Proxy(tx, {
            get(target, key) {
              const value = Reflect.get(target, key);
              if (key === 'enqueue') enqueued = true;
              return typeof value === 'function' ? value.bind(target) : value;
            },
          }),
        ),
      );
      if (enqueued) this.notify({ ownWrite: true });
      return result;
    };
  }
  /** A notification, delivered after the writer's reply (as the listener's socket would). */
  notify(wakeUp: OutboxWakeUp): void {
    setTimeout(() => {
      for (const listener of this.#listeners) listener(wakeUp);
    }, 1);
  }
  async subscribeOutbox(listener: (wakeUp: OutboxWakeUp) => void): Promise<() => Promise<void>> {
    this.#listeners.add(listener);
    return async () => {
      this.#listeners.delete(listener);
    };
  }
  listenerHealth(): WakeUpHealth {
    return {
      subscriptions: 1,
      listening: true,
      reconnects: 0,
      lastNotificationAt: null,
      notificationsDelivered: true,
    };
  }
}

describe('claims while delivery keeps up, on a store that pushes wake-ups', () => {
  it('one claim per sequential write, none of them empty but a few; another facade is still woken at once', async () => {
    const data = new MemoryRelationalData();
    const store = new NotifyingStore(data);
    const vector = new MemoryVectorStore({ dimension: DIM });
    const dw = await createDualWrite({
      relational: store,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'async-queue',
      delivery: { pollIntervalMs: BACKSTOP_MS },
      driftCheck: false,
    });
    try {
      const writes = 60;
      for (let i = 0; i < writes; i++) {
        const { version } = await dw.put({ id: `r${i}`, text: `record ${i}` });
        // Delivered before the next write: each write is claimed on its own.
        for (let t = 0; t < 200 && (await vector.getVersions([`r${i}`])).get(`r${i}`) !== version; t++)
          await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await new Promise((resolve) => setTimeout(resolve, 50)); // the last notifications come back
      expect(store.claims - writes, `${store.claims} claims for ${writes} writes`).toBeLessThanOrEqual(6);
      expect(store.emptyClaims).toBeLessThanOrEqual(6);

      // A write through another facade over the same store: its notification is the store's own, but this
      // facade announced nothing for it, so it wakes this facade's drain (the poll is a minute away).
      const other = await createDualWrite({
        relational: store,
        vector,
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy: 'async-queue',
        deliver: false,
        driftCheck: false,
        closeStores: false,
      });
      try {
        const { version } = await other.put({ id: 'from-the-other-facade', text: 'x' });
        const started = Date.now();
        while (
          (await vector.getVersions(['from-the-other-facade'])).get('from-the-other-facade') !== version
        ) {
          expect(Date.now() - started, 'woken by the notification, not by the poll').toBeLessThan(2_000);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      } finally {
        await other.close();
      }
    } finally {
      await dw.close();
    }
  });
});
