import type { RunResult } from '../runs/types.js';
import { computeRatios, type RatioGroup, type RepeatRun } from './ratios.js';
import type { TargetCheck } from './types.js';

interface TargetDefinition {
  target: string;
  /** Key of the ratio compared. */
  ratio: string;
  op: '<=' | '>=';
  bound: number;
}

/** The project's performance targets, checked by the benchmark (never by timed tests). */
export const TARGETS: readonly TargetDefinition[] = [
  {
    target: 'async-queue caller p50 ≤ 1.2 × sqlite-only p50',
    ratio: 'asyncCallerP50VsSqliteOnly',
    op: '<=',
    bound: 1.2,
  },
  {
    target: 'batch caller p50 ≤ 1.2 × sqlite-only p50',
    ratio: 'batchCallerP50VsSqliteOnly',
    op: '<=',
    bound: 1.2,
  },
  {
    target: 'batch end-to-end throughput ≥ 0.9 × vector-raw-bulk',
    ratio: 'batchThroughputVsRawBulk',
    op: '>=',
    bound: 0.9,
  },
  {
    target: 'sync-2pc p50 ≤ 1.05 × (vector-raw-single p50 + sqlite-only p50)',
    ratio: 'sync2pcP50VsRawSum',
    op: '<=',
    bound: 1.05,
  },
  {
    target: 'batch reaches consistency ≥ 5× sooner than sync-2pc',
    ratio: 'batchVsSync2pcTimeToConsistency',
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
  const ratios = computeRatios(runs, groups, {
    batchCallerP50VsSqliteOnly: (run) => {
      const a = run('batch')?.callerLatencyMs.p50;
      const b = run('relational-only')?.callerLatencyMs.p50;
      return a === undefined || b === undefined || b === 0 ? null : a / b;
    },
  });
  const out: TargetCheck[] = [];
  for (const g of groups) {
    const { key, relational } = typeof g === 'string' ? { key: g, relational: 'sqlite' } : g;
    for (const t of TARGETS) {
      const measured = ratios[key]?.[t.ratio] ?? null;
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

/** Runs whose verification found differences (lost or orphans). */
export function inconsistentRuns(runs: readonly RunResult[]): RunResult[] {
  return runs.filter((r) => r.lost > 0 || r.orphans > 0);
}
