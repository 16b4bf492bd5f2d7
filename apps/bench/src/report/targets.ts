import { type DrainScalingResult, HELD_SNAPSHOT_TARGET } from '../runs/drain-scaling.js';
import type { RunResult } from '../runs/types.js';
import { computeRatios, type RatioGroup, type RepeatRun } from './ratios.js';
import type { TargetCheck } from './types.js';

interface TargetDefinition {
  target: string;
  /** Key of the ratio compared. */
  ratio: string;
  op: '<=' | '>=';
  bound: number;
  /** Relational backends the target applies to (every one when absent). */
  relational?: readonly string[];
}

const SERVERS = ['postgres', 'mysql'] as const;

/**
 * The project's performance targets, checked by the benchmark (never by timed tests). A strategy's caller
 * latency is held to `raw-outbox-tx` (the floor of a durable put: record row + outbox row in one
 * transaction); against one autocommit INSERT (`<relational>-only`) it is information on SQLite, where
 * the two differ by the transaction itself, and a target on the servers, where a round trip dominates.
 */
export const TARGETS: readonly TargetDefinition[] = [
  {
    target: 'async-queue caller p50 ≤ 1.3 × raw-outbox-tx p50',
    ratio: 'asyncCallerP50VsRawOutboxTx',
    op: '<=',
    bound: 1.3,
  },
  {
    target: 'batch caller p50 ≤ 1.3 × raw-outbox-tx p50',
    ratio: 'batchCallerP50VsRawOutboxTx',
    op: '<=',
    bound: 1.3,
  },
  {
    target: 'async-queue caller p50 ≤ 1.3 × sqlite-only p50',
    ratio: 'asyncCallerP50VsSqliteOnly',
    op: '<=',
    bound: 1.3,
    relational: SERVERS,
  },
  {
    target: 'batch caller p50 ≤ 1.3 × sqlite-only p50',
    ratio: 'batchCallerP50VsSqliteOnly',
    op: '<=',
    bound: 1.3,
    relational: SERVERS,
  },
  {
    target: 'batch end-to-end throughput ≥ 0.9 × vector-raw-bulk',
    ratio: 'batchThroughputVsRawBulk',
    op: '>=',
    bound: 0.9,
  },
  {
    target: 'batch time to consistency ≤ 1.25 × (raw-outbox-tx puts + vector-raw-bulk ingest)',
    ratio: 'batchTimeVsRawOutboxTxPlusBulk',
    op: '<=',
    bound: 1.25,
  },
  {
    target: 'sync-2pc p50 ≤ 1.05 × (vector-raw-single p50 + sqlite-only p50)',
    ratio: 'sync2pcP50VsRawSum',
    op: '<=',
    bound: 1.05,
    relational: ['sqlite'],
  },
  {
    target: 'sync-2pc p50 ≤ 1.1 × (vector-raw-single p50 + sqlite-only p50)',
    ratio: 'sync2pcP50VsRawSum',
    op: '<=',
    bound: 1.1,
    relational: SERVERS,
  },
  {
    target: 'batch reaches consistency ≥ 5× sooner than sync-2pc',
    ratio: 'batchVsSync2pcTimeToConsistency',
    op: '>=',
    bound: 5,
  },
  {
    target: 'async-queue reaches consistency ≥ 5× sooner than sync-2pc',
    ratio: 'asyncVsSync2pcTimeToConsistency',
    op: '>=',
    bound: 5,
  },
  {
    target: 'batch makes ≥ 90% fewer vector calls than sync-2pc',
    ratio: 'batchVectorCallsVsSync2pc',
    op: '<=',
    bound: 0.1,
  },
];

/**
 * Checks {@link TARGETS} for every group (ratios as in `computeRatios`: per repeat, then median). For a
 * group on another relational backend than SQLite, `sqlite-only` in the target's text reads as that
 * backend's relational-only baseline (`postgres-only`), which is what the ratio compares against.
 */
export function checkTargets(
  runs: readonly RepeatRun[],
  groups: readonly (string | RatioGroup)[],
): TargetCheck[] {
  const ratios = computeRatios(runs, groups);
  const out: TargetCheck[] = [];
  for (const g of groups) {
    const { key, relational } = typeof g === 'string' ? { key: g, relational: 'sqlite' } : g;
    for (const t of TARGETS) {
      if (t.relational && !t.relational.includes(relational)) continue;
      const measured = (ratios[key] as Record<string, number | null> | undefined)?.[t.ratio] ?? null;
      const ok = measured === null ? null : t.op === '<=' ? measured <= t.bound : measured >= t.bound;
      out.push({
        vector: key,
        target: t.target.replaceAll('sqlite-only', `${relational}-only`),
        measured,
        bound: `${t.op} ${t.bound}`,
        status: ok === null ? 'n/a' : ok ? 'met' : 'missed',
      });
    }
  }
  return out;
}

/**
 * The `--drain-held-snapshot` target, one check per drain-scaling result that measured it: drain throughput
 * with a REPEATABLE READ transaction held open ≥ {@link HELD_SNAPSHOT_TARGET} × without it, for the same K.
 * Backends are named like the ratio groups (`lancedb+postgres`).
 */
export function checkDrainTargets(results: readonly DrainScalingResult[]): TargetCheck[] {
  return results.flatMap((d) => {
    if (d.heldSnapshotRatio === undefined) return [];
    return [
      {
        vector: `${d.vector}+${d.relational}`,
        target:
          `drain throughput with a held REPEATABLE READ ≥ ${HELD_SNAPSHOT_TARGET} × without ` +
          `(${d.workers} worker${d.workers === 1 ? '' : 's'}, ${d.records} records)`,
        measured: d.heldSnapshotRatio,
        bound: `>= ${HELD_SNAPSHOT_TARGET}`,
        status: d.heldSnapshotRatio >= HELD_SNAPSHOT_TARGET ? 'met' : 'missed',
      },
    ];
  });
}

/** Runs whose verification found differences (lost or orphans). */
export function inconsistentRuns(runs: readonly RunResult[]): RunResult[] {
  return runs.filter((r) => r.lost > 0 || r.orphans > 0);
}
