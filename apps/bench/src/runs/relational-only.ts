import type { RawTable } from '../backends/relational-backends.js';
import { RssSampler } from '../measure/rss-sampler.js';
import { type CallerTiming, runCallerLoop } from './caller-loop.js';
import { buildRunResult } from './run-result.js';
import { type RunContext, type RunOutcome, type RunResult, relationalOnlyRun } from './types.js';
import { verifyMap } from './verify-baseline.js';

/**
 * Baselines `sqlite-only` / `postgres-only` / `mysql-only`: the same record row written with the backend's
 * own client directly (better-sqlite3 / node-postgres / mysql2), one autocommit statement per record, no
 * outbox, no vector index. Its "consistency" is the last insert returning; verification checks every row
 * is there at its version.
 */
export function runRelationalOnly(ctx: RunContext): Promise<RunOutcome> {
  return runRawRelational(ctx, relationalOnlyRun(ctx.relational.name), (table, row) => table.insert(row));
}

/**
 * Baseline `raw-outbox-tx`: the floor of what a durable put must do — the record row and an outbox row
 * committed together with the backend's own client, prepared statements, no locks, no version sequence,
 * no vector index ({@link RawTable.insertWithOutbox}). The library's own overhead is a strategy's caller
 * latency over this one's.
 */
export function runRawOutboxTx(ctx: RunContext): Promise<RunOutcome> {
  return runRawRelational(ctx, 'raw-outbox-tx', (table, row) => table.insertWithOutbox(row));
}

async function runRawRelational(
  ctx: RunContext,
  name: RunResult['name'],
  write: (table: RawTable, row: Parameters<RawTable['insert']>[0]) => Promise<void>,
): Promise<RunOutcome> {
  const table = await ctx.relational.openRawTable(ctx.runId);
  try {
    const rss = new RssSampler();
    rss.start();
    let timing: CallerTiming;
    try {
      timing = await runCallerLoop(
        ctx.records,
        (r, i) =>
          write(table, {
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
        name,
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
