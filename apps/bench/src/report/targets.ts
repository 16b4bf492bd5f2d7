import type { RunResult } from '../runs/types.js';
import { computeRatios, type RepeatRun } from './ratios.js';
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

/** Checks {@link TARGETS} for every backend (ratios as in `computeRatios`: per repeat, then median). */
export function checkTargets(runs: readonly RepeatRun[], backends: readonly string[]): TargetCheck[] {
  const ratios = computeRatios(runs, backends, {
    batchCallerP50VsSqliteOnly: (run) => {
      const a = run('batch')?.callerLatencyMs.p50;
      const b = run('sqlite-only')?.callerLatencyMs.p50;
      return a === undefined || b === undefined || b === 0 ? null : a / b;
    },
  });
  const out: TargetCheck[] = [];
  for (const vector of backends) {
    for (const t of TARGETS) {
      const measured = ratios[vector]?.[t.ratio] ?? null;
      const ok = measured === null ? null : t.op === '<=' ? measured <= t.bound : measured >= t.bound;
      out.push({
        vector,
        target: t.target,
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
