/**
 * Wake-ups of the delivery loops: a write that lands while a loop's claim is coming back empty wakes nobody —
 * the loop is not waiting yet — so the loop must claim again at once instead of sleeping its poll interval
 * with the write undelivered; and one write wakes one idle loop, not every one (the others would each run a
 * claim transaction that finds nothing).
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, HashingEmbedder, type RelationalStore } from '../src/index.js';
import { MemoryRelationalData, MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;
/** Far longer than the test may take: a write left to the poll would time the test out. */
const POLL_MS = 60_000;

/** An async-queue facade with `concurrency` delivery loops that poll only every {@link POLL_MS}. */
function deliverer(relational: RelationalStore, vector: MemoryVectorStore, concurrency: number) {
  return createDualWrite({
    relational,
    vector,
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy: { name: 'async-queue', concurrency },
    delivery: { pollIntervalMs: POLL_MS },
    driftCheck: false,
  });
}

/** Resolves once `vector` holds `id` at `version`. */
async function indexed(vector: MemoryVectorStore, id: string, version: number | null): Promise<void> {
  while ((await vector.getVersions([id])).get(id) !== version) await new Promise((r) => setTimeout(r, 2));
}

describe('a wake-up during an empty claim', () => {
  it('makes the loop claim again instead of sleeping its poll interval', async () => {
    const relational = new MemoryRelationalStore();
    // Holds the next empty claim after it read the outbox, until the test lets it return.
    let hold: { reached: () => void; release: Promise<void> } | null = null;
    const claimOutbox = relational.claimOutbox.bind(relational);
    relational.claimOutbox = async (options) => {
      const leases = await claimOutbox(options);
      const held = hold;
      if (leases.length === 0 && held) {
        hold = null;
        held.reached();
        await held.release;
      }
      return leases;
    };
    const vector = new MemoryVectorStore({ dimension: DIM });
    const dw = await deliverer(relational, vector, 1);
    try {
      let release!: () => void;
      const reached = new Promise<void>((resolve) => {
        hold = { reached: resolve, release: new Promise<void>((r) => (release = r)) };
      });
      const first = await dw.put({ id: 'first', text: 'delivered, then the loop claims again' });
      await reached; // the loop's next claim found nothing and is about to return
      const second = await dw.put({ id: 'second', text: 'written while that claim returns' });
      release();
      await indexed(vector, 'first', first.version);
      await indexed(vector, 'second', second.version);
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  }, 20_000);

  it('wakes one idle loop for one write, not all of them', async () => {
    const relational = new MemoryRelationalStore();
    let claims = 0;
    const claimOutbox = relational.claimOutbox.bind(relational);
    relational.claimOutbox = (options) => {
      claims++;
      return claimOutbox(options);
    };
    const vector = new MemoryVectorStore({ dimension: DIM });
    const dw = await deliverer(relational, vector, 4);
    try {
      await new Promise((r) => setTimeout(r, 100)); // the four loops made their first claim and sleep
      claims = 0;
      const { version } = await dw.put({ id: 'one', text: 'one write' });
      await indexed(vector, 'one', version);
      await new Promise((r) => setTimeout(r, 100));
      // The loop that took it, then its next (empty) claim; waking all four would make five.
      expect(claims).toBeLessThanOrEqual(2);
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  }, 20_000);
});

/** Entries per claim in the bulk-write test. */
const CLAIM = 16;

describe('a bulk write noticed once', () => {
  it('still gets every delivery loop working: a loop whose claim came back full wakes another', async () => {
    const data = new MemoryRelationalData();
    const relational: RelationalStore = new MemoryRelationalStore({ data });
    let notified: ((wakeUp: { ownWrite: boolean }) => void) | undefined;
    // One notification for the whole bulk write, as a PostgreSQL NOTIFY of another process's transaction.
    relational.subscribeOutbox = async (listener) => {
      notified = listener;
      return async () => {};
    };
    let inFlight = 0;
    let mostInFlight = 0;
    const vector = new MemoryVectorStore({ dimension: DIM });
    // Small claims (a claim takes at most the vector store's batch), so the test writes few records.
    Object.defineProperty(vector, 'maxBatchSize', { value: CLAIM });
    const upsert = vector.upsert.bind(vector);
    vector.upsert = async (records, options) => {
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      await new Promise((r) => setTimeout(r, 150)); // long enough for the loops to overlap on a loaded machine
      inFlight--;
      return upsert(records, options);
    };
    const worker = await deliverer(relational, vector, 4);
    const writer = await createDualWrite({
      relational: new MemoryRelationalStore({ data }),
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'async-queue',
      deliver: false,
      driftCheck: false,
    });
    try {
      await new Promise((r) => setTimeout(r, 100)); // the worker's loops made their first claim and sleep
      const records = Array.from({ length: 4 * CLAIM }, (_, i) => ({
        id: `bulk-${i}`,
        text: `${i}`,
      }));
      const written = await writer.putMany(records);
      notified!({ ownWrite: false });
      const last = written.at(-1)!;
      await indexed(vector, last.id, last.version);
      expect(mostInFlight, 'loops delivering at once').toBeGreaterThanOrEqual(3);
    } finally {
      await writer.close({ drain: false, timeoutMs: 2_000 });
      await worker.close({ drain: false, timeoutMs: 2_000 });
    }
  }, 20_000);
});
