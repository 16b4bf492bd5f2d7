/**
 * batch waits for a batch to fill only while there is reason to: a change that arrives alone (a trickle,
 * or the first after a quiet spell) is sent without its `maxDelayMs` wait, while a burst of single puts
 * still goes out in a few bulk calls. And the arrival rate it reads is a plain weighted mean of the gaps.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, FaultyVectorStore, HashingEmbedder, ManualClock } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';
import { ArrivalRate } from '../src/util/arrival-rate.js';

const DIM = 8;
/** Far longer than the test may take: a write held for it would time the test out. */
const MAX_DELAY_MS = 60_000;

async function open() {
  const vector = new FaultyVectorStore(new MemoryVectorStore({ dimension: DIM }));
  const dw = await createDualWrite({
    relational: new MemoryRelationalStore(),
    vector,
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy: { name: 'batch', maxBatchSize: 100, maxDelayMs: MAX_DELAY_MS },
    delivery: { pollIntervalMs: 5 },
    driftCheck: false,
  });
  return { dw, vector };
}

/** Polls the index itself (a flush would make the drainer send partial batches at once). */
async function indexed(vector: FaultyVectorStore, id: string, version: number | null): Promise<void> {
  while ((await vector.getVersions([id])).get(id) !== version) await new Promise((r) => setTimeout(r, 2));
}

describe('batch', () => {
  it('sends a change that arrives alone without waiting maxDelayMs for company', async () => {
    const { dw, vector } = await open();
    try {
      for (let i = 0; i < 4; i++) {
        const { version } = await dw.put({ id: `alone-${i}`, text: `alone ${i}` });
        await indexed(vector, `alone-${i}`, version);
        // A quiet spell between writes: the measured rate says nothing else is coming.
        await new Promise((r) => setTimeout(r, 30));
      }
      expect(vector.callCount('upsert')).toBe(4);
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  }, 20_000);

  it('still gathers a burst of single puts into a few bulk calls', async () => {
    const { dw, vector } = await open();
    try {
      let last: number | null = null;
      for (let i = 0; i < 60; i++) last = (await dw.put({ id: `burst-${i}`, text: `burst ${i}` })).version;
      await indexed(vector, 'burst-59', last);
      for (let i = 0; i < 60; i++) expect(await vector.getVersions([`burst-${i}`])).toHaveProperty('size', 1);
      // The first goes alone (no rate yet); the rest gather while arrivals keep coming. One call per put
      // would be 60.
      expect(vector.callCount('upsert')).toBeLessThanOrEqual(12);
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  }, 20_000);
});

describe('batch on a clock that stands still', () => {
  it('stops gathering the moment the batch is full, not at the end of its wait', async () => {
    // Time never moves, so a gathering loop only stops waiting when it is told the batch filled.
    const vector = new FaultyVectorStore(new MemoryVectorStore({ dimension: DIM }));
    const dw = await createDualWrite({
      relational: new MemoryRelationalStore(),
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: { name: 'batch', maxBatchSize: 10, maxDelayMs: 1_000 },
      clock: new ManualClock(),
      driftCheck: false,
    });
    try {
      const first = await dw.put({ id: 'full-0', text: 'first' }); // no rate yet: sent alone
      await indexed(vector, 'full-0', first.version);
      for (let i = 1; i < 10; i++) await dw.put({ id: `full-${i}`, text: `full ${i}` });
      await new Promise((r) => setTimeout(r, 50));
      expect(await vector.getVersions(['full-9'])).toHaveProperty('size', 0); // 9 of 10: still gathering
      const last = await dw.put({ id: 'full-10', text: 'tenth' });
      await indexed(vector, 'full-10', last.version);
      expect(vector.callCount('upsert')).toBe(2);
      expect((await vector.getVersions(['full-1', 'full-9'])).size).toBe(2);
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  }, 20_000);
});

/** A memory index whose writes wait while `hold` is set: a slow vector call, on a clock that stands still. */
class HeldVectorStore extends MemoryVectorStore {
  hold: Promise<void> | null = null;
  override async upsert(...args: Parameters<MemoryVectorStore['upsert']>) {
    await this.hold;
    return super.upsert(...args);
  }
}

describe('batch behind a slow vector call', () => {
  it('counts maxDelayMs from when a change arrived: one that waited behind a call in flight is sent right after it', async () => {
    const clock = new ManualClock();
    const vector = new HeldVectorStore({ dimension: DIM });
    const dw = await createDualWrite({
      relational: new MemoryRelationalStore(),
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: { name: 'batch', maxBatchSize: 100, maxDelayMs: 1_000 },
      clock,
      driftCheck: false,
    });
    try {
      let release!: () => void;
      vector.hold = new Promise((resolve) => {
        release = resolve;
      });
      await dw.put({ id: 'first', text: 'first' }); // no rate yet: sent alone, and held in the call
      await new Promise((r) => setTimeout(r, 20));
      // Steady arrivals every 20 ms for 1.1 s while that call is in flight: 56 changes, past maxDelayMs.
      let last = 0;
      for (let i = 0; i <= 55; i++) {
        if (i > 0) clock.advance(20);
        last = (await dw.put({ id: `behind-${i}`, text: `behind ${i}` })).version!;
      }
      vector.hold = null;
      release();
      // Time stands still from here: were the wait counted from the end of the held call, the 56 would
      // wait for 1 s that never passes.
      await indexed(vector as unknown as FaultyVectorStore, 'behind-55', last);
      expect((await vector.getVersions(['behind-0', 'behind-30'])).size).toBe(2);
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  }, 20_000);
});

/** A memory store whose claims answer `delayMs` after they took their entries: writes land while one is in flight. */
class SlowClaimStore extends MemoryRelationalStore {
  constructor(private readonly delayMs: number) {
    super();
  }
  override async claimOutbox(...args: Parameters<MemoryRelationalStore['claimOutbox']>) {
    const leases = await super.claimOutbox(...args);
    await new Promise((r) => setTimeout(r, this.delayMs));
    return leases;
  }
}

describe('batch under a steady stream whose every claim leaves writes behind', () => {
  it('keeps gathering: what a short claim left was announced while it ran, and waits from then, not from the stream start', async () => {
    // Each claim answers 4 ms after it took its entries, while puts land every millisecond or so: the drainer's
    // count of announced entries never drops to zero. Its wait used to count from the stream's first
    // announcement, so once maxDelayMs had passed every later gather ended at once and batch sent a few
    // records per call (measured on PostgreSQL: 440–690 claims for 2,000 puts instead of 120–140).
    const vector = new FaultyVectorStore(new MemoryVectorStore({ dimension: DIM }));
    const dw = await createDualWrite({
      relational: new SlowClaimStore(4),
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: { name: 'batch', maxBatchSize: 1_000, maxDelayMs: 40 },
      driftCheck: false,
    });
    try {
      let last: number | null = null;
      const until = Date.now() + 600;
      let n = 0;
      for (; Date.now() < until; n++) {
        last = (await dw.put({ id: `steady-${n}`, text: `steady ${n}` })).version;
        await new Promise((r) => setTimeout(r, 1));
      }
      await indexed(vector, `steady-${n - 1}`, last);
      // Here: 10–13 puts per call (21–25 calls for about 265 puts); the stuck loop sent 2–3 (75 for 206).
      expect(vector.callCount('upsert'), `${n} puts`).toBeLessThanOrEqual(n / 5);
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  }, 20_000);
});

describe('ArrivalRate', () => {
  it('averages gaps per arrival, caps a quiet spell, and knows nothing before two wake-ups', () => {
    const rate = new ArrivalRate(100, 0.5);
    expect(rate.meanGapMs).toBeNull();
    expect(rate.quietFor(0)).toBe(Number.POSITIVE_INFINITY);
    rate.note(1_000, 1);
    expect(rate.meanGapMs).toBeNull();
    rate.note(1_010, 1);
    expect(rate.meanGapMs).toBe(10);
    rate.note(1_030, 4); // 20 ms for 4 arrivals: 5 ms each
    expect(rate.meanGapMs).toBe(7.5);
    rate.note(61_030, 1); // a minute of quiet counts as the 100 ms ceiling
    expect(rate.meanGapMs).toBe(53.75);
    expect(rate.quietFor(61_040)).toBe(10);
    rate.note(61_050, 0); // nothing arrived: ignored
    expect(rate.quietFor(61_050)).toBe(20);
  });
});
