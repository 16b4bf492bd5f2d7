import { RssSampler } from '../measure/rss-sampler.js';
import { type CallerTiming, runCallerLoop } from './caller-loop.js';
import { callerLoopOutcome } from './caller-loop-outcome.js';
import { instrument } from './instrument.js';
import type { RunContext, RunOutcome } from './types.js';
import { toVectorRecord } from './vector-raw-single.js';
import { verifyIndex } from './verify-baseline.js';

/**
 * Baseline `naive-dual-write`: the hand-written pattern without dualwrite — per record, upsert into the
 * vector store, then insert the row with the relational backend's own client (better-sqlite3 or
 * node-postgres, autocommit). No outbox and no recovery: a crash between the two writes leaves an orphan
 * vector. The caller retries the pair on transient vector errors. Verification: every row is indexed at
 * its version, and nothing else is.
 */
export async function runNaiveDualWrite(ctx: RunContext): Promise<RunOutcome> {
  if (!ctx.vector) throw new Error('naive-dual-write needs a vector backend');
  const table = await ctx.relational.openRawTable(ctx.runId);
  try {
    const vec = await ctx.vector.open(ctx.runId, ctx.dimension);
    try {
      const wrapped = instrument(vec.store, ctx.runId, ctx.settings);
      const rss = new RssSampler();
      rss.start();
      let timing: CallerTiming;
      try {
        timing = await runCallerLoop(
          ctx.records,
          async (r, i) => {
            const v = toVectorRecord(r, i);
            await wrapped.upsert([v]);
            await table.insert({
              id: r.id,
              text: r.text,
              embedding: r.embedding,
              metadata: r.metadata,
              version: v.version,
            });
          },
          { maxAttempts: ctx.settings.maxCallerAttempts, onProgress: ctx.onProgress },
        );
      } finally {
        rss.stop();
      }
      return callerLoopOutcome(ctx, {
        name: 'naive-dual-write',
        relational: ctx.relational.name,
        timing,
        vector: wrapped,
        peakRssBytes: rss.peakBytes,
        check: await verifyIndex(vec.store, await table.versions()),
        failedWrites: timing.failed,
      });
    } finally {
      await vec.dispose();
    }
  } finally {
    await table.dispose();
  }
}
