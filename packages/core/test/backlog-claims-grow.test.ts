/**
 * While delivery is behind, claims grow: each claim that comes back full doubles the next, up to the
 * strategy's backlog size and about BACKLOG_CLAIM_BYTES of record data; a short claim returns to the base size.
 */
import { describe, expect, it } from 'vitest';
import {
  BACKLOG_CLAIM_BYTES,
  BACKLOG_CLAIM_SIZE,
  createDualWrite,
  type Embedder,
  HashingEmbedder,
  type StrategyConfig,
  ValidationError,
} from '../src/index.js';
import { ClaimSize } from '../src/outbox/claim-size.js';
import {
  MemoryRelationalData,
  MemoryRelationalStore,
  MemoryVectorData,
  MemoryVectorStore,
} from '../src/testing/index.js';

const DIM = 4;

/** A facade over the reference stores that records how many records each upsert call carried. */
async function open(strategy: StrategyConfig, options: { embedder?: Embedder; leaseMs?: number } = {}) {
  const vector = new MemoryVectorStore({ dimension: DIM });
  const sizes: number[] = [];
  const upsert = vector.upsert.bind(vector);
  vector.upsert = (records, options) => {
    sizes.push(records.length);
    return upsert(records, options);
  };
  const dw = await createDualWrite({
    relational: new MemoryRelationalStore(),
    vector,
    strategy,
    ...(options.embedder ? { embedder: options.embedder } : {}),
    delivery: { pollIntervalMs: 5, ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}) },
    driftCheck: false,
  });
  return { dw, sizes };
}

/** Writes `count` records with delivery paused, then drains them. */
async function drainBacklog(strategy: StrategyConfig, count: number, text = (i: number) => `r ${i}`) {
  const { dw, sizes } = await open(strategy);
  try {
    dw.pause();
    for (let i = 0; i < count; i += 500)
      await dw.putMany(
        Array.from({ length: Math.min(500, count - i) }, (_, j) => ({
          id: `r-${i + j}`,
          text: text(i + j),
          embedding: [1, 0, 0, (i + j) % 7],
        })),
      );
    dw.resume();
    await dw.flush({ timeoutMs: 20_000 });
    expect((await dw.stats()).outboxDepth, 'the backlog drained').toBe(0);
    const after = [...sizes];
    // Caught up: the next change is claimed at the base size again and goes alone.
    await dw.put({ id: 'after', text: 'after', embedding: [0, 1, 0, 0] });
    await dw.flush({ timeoutMs: 5_000 });
    return { during: after, next: sizes.slice(after.length) };
  } finally {
    await dw.close({ drain: false, timeoutMs: 2_000 });
  }
}

describe('backlog claims', () => {
  it('batch: a backlog goes out in doubling calls up to backlogBatchSize, then back to maxBatchSize', async () => {
    const { during, next } = await drainBacklog({ name: 'batch', maxBatchSize: 100, maxDelayMs: 0 }, 2_500);
    expect(during).toEqual([100, 200, 400, 800, 1_000]);
    expect(next).toEqual([1]);
  });

  it('batch: backlogBatchSize = maxBatchSize keeps every call at maxBatchSize', async () => {
    const { during } = await drainBacklog(
      { name: 'batch', maxBatchSize: 100, backlogBatchSize: 100, maxDelayMs: 0 },
      450,
    );
    expect(during).toEqual([100, 100, 100, 100, 50]);
  });

  it('async-queue: from 256 up to BACKLOG_CLAIM_SIZE', async () => {
    const { during } = await drainBacklog({ name: 'async-queue', concurrency: 1 }, 3_000);
    expect(BACKLOG_CLAIM_SIZE).toBe(1_000);
    expect(during).toEqual([256, 512, 1_000, 1_000, 232]);
  });

  it('grows no further than about BACKLOG_CLAIM_BYTES of record data', async () => {
    // Texts of 1,000,000 UTF-16 code units count as about 2 MB each: 8 fit in BACKLOG_CLAIM_BYTES.
    const big = 'x'.repeat(1_000_000);
    const { during } = await drainBacklog({ name: 'batch', maxBatchSize: 4, maxDelayMs: 0 }, 40, () => big);
    expect(Math.floor(BACKLOG_CLAIM_BYTES / (2 * big.length))).toBe(8);
    expect(during).toEqual([4, 8, 8, 8, 8, 4]);
  });

  it('sends a claim of records larger than BACKLOG_CLAIM_BYTES in several calls', async () => {
    const big = 'x'.repeat(1_000_000); // about 2 MB as counted: 8 per call
    const { during } = await drainBacklog({ name: 'batch', maxBatchSize: 30, maxDelayMs: 0 }, 30, () => big);
    expect(during).toEqual([8, 8, 8, 6]);
  });

  it('does not grow while delivering a claim takes over a quarter of the lease (a slow embedder)', async () => {
    const hashing = new HashingEmbedder({ dimension: DIM });
    const slow = {
      id: hashing.id,
      dimension: DIM,
      maxBatchSize: 1_000,
      embed: async (texts: readonly string[]) => {
        await new Promise((r) => setTimeout(r, 150));
        return hashing.embed(texts);
      },
    };
    const { dw, sizes } = await open(
      { name: 'batch', maxBatchSize: 10, maxDelayMs: 0 },
      { embedder: slow, leaseMs: 400 },
    );
    try {
      dw.pause();
      await dw.putMany(Array.from({ length: 50 }, (_, i) => ({ id: `s-${i}`, text: `slow ${i}` })));
      dw.resume();
      await dw.flush({ timeoutMs: 20_000 });
      expect(sizes, 'every claim took 150 ms against a 100 ms budget').toEqual([10, 10, 10, 10, 10]);
    } finally {
      await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  });

  it('refuses a backlogBatchSize below maxBatchSize at the call, naming it', async () => {
    await expect(open({ name: 'batch', maxBatchSize: 100, backlogBatchSize: 50 })).rejects.toThrow(
      ValidationError,
    );
    await expect(open({ name: 'batch', maxBatchSize: 100, backlogBatchSize: 50 })).rejects.toMatchObject({
      field: 'strategy.backlogBatchSize',
    });
  });
});

describe('ClaimSize', () => {
  it('doubles while full, returns to the base when short, never below the base', () => {
    const claim = new ClaimSize(10, 35, 1_000);
    const seen = [claim.current];
    for (const claimed of [10, 20, 35, 35, 7, 10]) {
      claim.settle(claimed, 0, 5);
      seen.push(claim.current);
    }
    expect(seen).toEqual([10, 20, 35, 35, 35, 10, 20]);
    const huge = new ClaimSize(10, 1_000, 1_000);
    huge.settle(10, 10 * BACKLOG_CLAIM_BYTES, 5);
    expect(huge.current, 'a claim of large records stays at the base').toBe(10);
  });

  it('halves, never below the base, after a delivery slower than its budget', () => {
    const claim = new ClaimSize(10, 1_000, 100);
    for (const size of [10, 20, 40, 80]) claim.settle(size, 0, 5);
    expect(claim.current).toBe(160);
    const seen: number[] = [];
    for (const size of [160, 80, 40, 20]) {
      claim.settle(size, 0, 101);
      seen.push(claim.current);
    }
    expect(seen).toEqual([80, 40, 20, 10]);
    claim.settle(10, 0, 101);
    expect(claim.current).toBe(10);
    claim.settle(10, 0, 5);
    expect(claim.current).toBe(20);
    claim.reset();
    expect(claim.current, 'a failed delivery returns to the base').toBe(10);
  });
});

describe('planning a claim', () => {
  /** An embedder over HashingEmbedder that waits `delayMs` per call and refuses texts containing "poison". */
  function embedder(
    delayMs: number,
    calls: string[],
    refuse: () => Error = () => new ValidationError('text', 'the embedder refuses this text'),
  ) {
    const hashing = new HashingEmbedder({ dimension: DIM });
    return {
      id: hashing.id,
      dimension: DIM,
      maxBatchSize: 1_000,
      embed: async (texts: readonly string[]) => {
        calls.push(...texts);
        await new Promise((r) => setTimeout(r, delayMs));
        if (texts.some((t) => t.includes('poison'))) throw refuse();
        return hashing.embed(texts);
      },
    };
  }

  it.each([
    ['a ValidationError (permanent)', () => new ValidationError('text', 'the embedder refuses this text')],
    ['an unexplained Error (transient)', () => new Error('embedder answered 400 for this batch')],
  ])(
    'one text the embedder refuses with %s dead-letters only its record, not the whole claim',
    async (_kind, refuse) => {
      const calls: string[] = [];
      const dw = await createDualWrite({
        relational: new MemoryRelationalStore(),
        vector: new MemoryVectorStore({ dimension: DIM }),
        embedder: embedder(0, calls, refuse),
        strategy: { name: 'batch', maxBatchSize: 64, maxDelayMs: 0 },
        delivery: {
          pollIntervalMs: 5,
          maxAttempts: 3,
          backoff: { baseMs: 5, maxMs: 10, factor: 2, jitter: 'none' },
        },
        driftCheck: false,
      });
      try {
        dw.pause();
        await dw.putMany(
          Array.from({ length: 64 }, (_, i) => ({ id: `p-${i}`, text: i === 17 ? 'poison' : `fine ${i}` })),
        );
        dw.resume();
        await dw.flush({ timeoutMs: 10_000 });
        const dead = await dw.listDeadLetters();
        expect(dead.map((d) => d.recordId)).toEqual(['p-17']);
        expect((await dw.stats()).deadLetters).toBe(1);
      } finally {
        await dw.close({ drain: false, timeoutMs: 2_000 });
      }
    },
  );

  it('leases stay held while a slow embedder fills a claim: no other process takes it', async () => {
    const calls: string[] = [];
    const relational = new MemoryRelationalData();
    const index = new MemoryVectorData();
    const facades = await Promise.all(
      [0, 1].map(() =>
        createDualWrite({
          relational: new MemoryRelationalStore({ data: relational }),
          vector: new MemoryVectorStore({ dimension: DIM, data: index }),
          embedder: embedder(500, calls),
          strategy: { name: 'batch', maxBatchSize: 10, maxDelayMs: 0 },
          delivery: { pollIntervalMs: 5, leaseMs: 200 },
          driftCheck: false,
        }),
      ),
    );
    try {
      await facades[0]!.put({ id: 'slow', text: 'slow to embed' });
      for (const dw of facades) await dw.flush({ timeoutMs: 10_000 });
      expect(calls, 'embedded once: the lease outlived the 500 ms embedding').toEqual(['slow to embed']);
    } finally {
      for (const dw of facades) await dw.close({ drain: false, timeoutMs: 2_000 });
    }
  });
});
