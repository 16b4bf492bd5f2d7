import type { BenchRecord } from '../input/build-records.js';
import { RssSampler } from '../measure/rss-sampler.js';
import { type CallerTiming, runCallerLoop } from './caller-loop.js';
import { callerLoopOutcome } from './caller-loop-outcome.js';
import { instrument } from './instrument.js';
import type { RunContext, RunOutcome } from './types.js';
import { toVectorRecord } from './vector-raw-single.js';
import { verifyIndex } from './verify-baseline.js';

/** Splits `records` into consecutive chunks of `size`, keeping each record's global index. */
export function chunk(
  records: readonly BenchRecord[],
  size: number,
): { start: number; items: BenchRecord[] }[] {
  const out: { start: number; items: BenchRecord[] }[] = [];
  for (let i = 0; i < records.length; i += size) out.push({ start: i, items: records.slice(i, i + size) });
  return out;
}

/**
 * Baseline `vector-raw-bulk`: `upsert` of `batchSize` records per call through our own adapter, calls
 * one after another, retried by the caller on transient errors. Its caller latency is **per bulk call**
 * (not per record).
 */
export async function runVectorRawBulk(ctx: RunContext): Promise<RunOutcome> {
  if (!ctx.vector) throw new Error('vector-raw-bulk needs a vector backend');
  const vec = await ctx.vector.open(ctx.runId, ctx.dimension);
  try {
    const wrapped = instrument(vec.store, ctx.runId, ctx.settings);
    const batches = chunk(ctx.records, ctx.settings.batchSize);
    const rss = new RssSampler();
    rss.start();
    let timing: CallerTiming;
    try {
      timing = await runCallerLoop(
        batches,
        (b) => wrapped.upsert(b.items.map((r, j) => toVectorRecord(r, b.start + j))),
        {
          maxAttempts: ctx.settings.maxCallerAttempts,
          onProgress: ctx.onProgress,
          sizeOf: (b) => b.items.length,
        },
      );
    } finally {
      rss.stop();
    }
    const expected = new Map(ctx.records.map((r, i) => [r.id, i + 1]));
    return callerLoopOutcome(ctx, {
      name: 'vector-raw-bulk',
      relational: 'none',
      timing,
      vector: wrapped,
      peakRssBytes: rss.peakBytes,
      check: await verifyIndex(vec.store, expected),
      failedWrites: timing.failed * ctx.settings.batchSize,
    });
  } finally {
    await vec.dispose();
  }
}
