import {
  createDualWrite,
  type DualwriteStats,
  type StrategyConfig,
  verifyConsistency,
} from '@dualwrite/core';
import { RssSampler } from '../measure/rss-sampler.js';
import { type CallerTiming, runCallerLoop } from './caller-loop.js';
import { injectionNotes, instrument } from './instrument.js';
import { buildRunResult } from './run-result.js';
import type { RunContext, RunOutcome, RunSettings, StrategyRunName } from './types.js';

/** The facade's strategy config for a run. */
export function strategyConfig(name: StrategyRunName, settings: RunSettings): StrategyConfig {
  switch (name) {
    case 'sync-2pc':
      return { name };
    case 'async-queue':
      return { name, concurrency: settings.concurrency };
    case 'batch':
      return { name, maxBatchSize: settings.batchSize };
  }
}

/**
 * One strategy run: fresh stores, `createDualWrite`, one `put` at a time (timed), then `flush()`
 * (time to consistency), then `verifyConsistency` against the unwrapped stores.
 *
 * sync-2pc surfaces vector failures to the caller (`onVectorFailure: 'fail'`), so the caller retries
 * them; its `retries` are those caller retries plus the drainer's. async-queue and batch retry in the
 * background (`stats().retries`).
 */
export async function runStrategy(name: StrategyRunName, ctx: RunContext): Promise<RunOutcome> {
  if (!ctx.vector) throw new Error(`${name} needs a vector backend`);
  const rel = await ctx.relational.open(ctx.runId);
  try {
    const vec = await ctx.vector.open(ctx.runId, ctx.dimension);
    try {
      const wrapped = instrument(vec.store, ctx.runId, ctx.settings);
      const dw = await createDualWrite({
        relational: rel.store,
        vector: wrapped,
        strategy: strategyConfig(name, ctx.settings),
        closeStores: false,
      });
      let timing: CallerTiming;
      let consistentAt: number;
      let stats: DualwriteStats;
      const rss = new RssSampler();
      try {
        rss.start();
        try {
          timing = await runCallerLoop(ctx.records, (record) => dw.put(record), {
            maxAttempts: ctx.settings.maxCallerAttempts,
            onProgress: ctx.onProgress,
          });
          await dw.flush({ timeoutMs: ctx.settings.flushTimeoutMs });
          consistentAt = performance.now();
        } finally {
          rss.stop();
        }
        stats = await dw.stats();
      } finally {
        // Stops the workers (also when the run failed); the stores stay open for verification.
        await dw.close({ drain: false, timeoutMs: 5_000 });
      }
      const report = await verifyConsistency(rel.store, vec.store);
      const notes = injectionNotes(wrapped);
      if (stats.deadLetters > 0) notes.push(`${stats.deadLetters} changes dead-lettered`);
      if (report.stale > 0) notes.push(`${report.stale} records indexed at an old version (counted as lost)`);
      if (report.mismatched > 0)
        notes.push(
          `${report.mismatched} records indexed with other content than SQL holds (counted as lost)`,
        );
      return {
        result: buildRunResult({
          name,
          vector: vec.store.name,
          relational: rel.store.name,
          records: ctx.records.length,
          batchSize: ctx.settings.batchSize,
          timing,
          consistentAt,
          vectorCalls: stats.vectorCalls,
          retries: stats.retries + timing.retries,
          peakRssBytes: rss.peakBytes,
          lost: report.lost + report.stale + report.mismatched,
          orphans: report.orphans,
        }),
        failedWrites: timing.failed,
        notes,
      };
    } finally {
      await vec.dispose();
    }
  } finally {
    await rel.dispose();
  }
}
