import { join } from 'node:path';
import { RawSqliteTable } from '../backends/raw-sqlite-table.js';
import { removeSqliteFiles } from '../backends/relational-backends.js';
import { RssSampler } from '../measure/rss-sampler.js';
import { type CallerTiming, runCallerLoop } from './caller-loop.js';
import { buildRunResult } from './run-result.js';
import type { RunContext, RunOutcome } from './types.js';
import { verifyMap } from './verify-baseline.js';

/**
 * Baseline `sqlite-only`: the same record row written with better-sqlite3 directly, one autocommit
 * transaction per record, no outbox, no vector index. Its "consistency" is the last insert returning;
 * verification checks every row is there at its version.
 */
export async function runSqliteOnly(ctx: RunContext): Promise<RunOutcome> {
  const path = join(ctx.workDir, `${ctx.runId}.sqlite`);
  const table = new RawSqliteTable(path);
  try {
    const rss = new RssSampler();
    rss.start();
    let timing: CallerTiming;
    try {
      timing = await runCallerLoop(
        ctx.records,
        async (r, i) =>
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
    const check = verifyMap(table.versions(), expected);
    return {
      result: buildRunResult({
        name: 'sqlite-only',
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
    table.close();
    await removeSqliteFiles(path);
  }
}
