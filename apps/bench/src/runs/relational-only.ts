import { RssSampler } from '../measure/rss-sampler.js';
import { type CallerTiming, runCallerLoop } from './caller-loop.js';
import { buildRunResult } from './run-result.js';
import { type RunContext, type RunOutcome, relationalOnlyRun } from './types.js';
import { verifyMap } from './verify-baseline.js';

/**
 * Baselines `sqlite-only` / `postgres-only`: the same record row written with the backend's own client
 * directly (better-sqlite3 / node-postgres), one autocommit statement per record, no outbox, no vector
 * index. Its "consistency" is the last insert returning; verification checks every row is there at its
 * version.
 */
export async function runRelationalOnly(ctx: RunContext): Promise<RunOutcome> {
  const table = await ctx.relational.openRawTable(ctx.runId);
  try {
    const rss = new RssSampler();
    rss.start();
    let timing: CallerTiming;
    try {
      timing = await runCallerLoop(
        ctx.records,
        (r, i) =>
          table.insert({
            id: r.id,
            text: r.text,
            embedding: r.embedding,
            metadata: r.metadata,
            version: i + 1,
          }),
        { maxAttempts: 1, onProgress: ctx.onProgress },
      );
    } finally {
      rss.stop();
    }
    const expected = new Map(ctx.records.map((r, i) => [r.id, i + 1]));
    const check = verifyMap(await table.versions(), expected);
    return {
      result: buildRunResult({
        name: relationalOnlyRun(ctx.relational.name),
        vector: 'none',
        relational: ctx.relational.name,
        records: ctx.records.length,
        batchSize: ctx.settings.batchSize,
        timing,
        consistentAt: timing.lastEnd,
        vectorCalls: 0,
        retries: 0,
        peakRssBytes: rss.peakBytes,
        ...check,
      }),
      failedWrites: timing.failed,
      notes: [],
    };
  } finally {
    await table.dispose();
  }
}
