import type { VectorRecord } from '@dualwrite/core';
import type { BenchRecord } from '../input/build-records.js';
import { RssSampler } from '../measure/rss-sampler.js';
import { type CallerTiming, runCallerLoop } from './caller-loop.js';
import { callerLoopOutcome } from './caller-loop-outcome.js';
import { instrument } from './instrument.js';
import type { RunContext, RunOutcome } from './types.js';
import { verifyIndex } from './verify-baseline.js';

/** The vector-store form of record `index` (version `index + 1`, as the baselines number them). */
export function toVectorRecord(r: BenchRecord, index: number): VectorRecord {
  return { id: r.id, embedding: r.embedding, text: r.text, metadata: r.metadata, version: index + 1 };
}

/**
 * Baseline `vector-raw-single`: one `upsert` per record through our own VectorStore adapter ("raw
 * client" = the thin adapter, no outbox, no SQL), retried by the caller on transient errors.
 */
export async function runVectorRawSingle(ctx: RunContext): Promise<RunOutcome> {
  if (!ctx.vector) throw new Error('vector-raw-single needs a vector backend');
  const vec = await ctx.vector.open(ctx.runId, ctx.dimension);
  try {
    const wrapped = instrument(vec.store, ctx.runId, ctx.settings);
    const rss = new RssSampler();
    rss.start();
    let timing: CallerTiming;
    try {
      timing = await runCallerLoop(ctx.records, (r, i) => wrapped.upsert([toVectorRecord(r, i)]), {
        maxAttempts: ctx.settings.maxCallerAttempts,
        onProgress: ctx.onProgress,
      });
    } finally {
      rss.stop();
    }
    const expected = new Map(ctx.records.map((r, i) => [r.id, i + 1]));
    return callerLoopOutcome(ctx, {
      name: 'vector-raw-single',
      relational: 'none',
      timing,
      vector: wrapped,
      peakRssBytes: rss.peakBytes,
      check: await verifyIndex(vec.store, expected),
      failedWrites: timing.failed,
    });
  } finally {
    await vec.dispose();
  }
}
