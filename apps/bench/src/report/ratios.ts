import { median } from '../measure/percentiles.js';
import { round } from '../runs/run-result.js';
import type { RunName, RunResult } from '../runs/types.js';
import type { BackendRatios } from './types.js';

/** A run with the repeat it belongs to (ratios pair runs of the same repeat). */
export interface RepeatRun {
  repeat: number;
  result: RunResult;
}

type Lookup = (name: RunName) => RunResult | undefined;

/** Ratio extractors: each returns `null` when an input is missing or the denominator is 0. */
export const RATIO_DEFINITIONS: Record<keyof BackendRatios, (run: Lookup) => number | null> = {
  asyncCallerP50VsSqliteOnly: (run) =>
    div(run('async-queue')?.callerLatencyMs.p50, run('sqlite-only')?.callerLatencyMs.p50),
  batchThroughputVsRawBulk: (run) =>
    div(run('batch')?.endToEndThroughput, run('vector-raw-bulk')?.endToEndThroughput),
  sync2pcP50VsRawSum: (run) => {
    const single = run('vector-raw-single')?.callerLatencyMs.p50;
    const sqlite = run('sqlite-only')?.callerLatencyMs.p50;
    return div(
      run('sync-2pc')?.callerLatencyMs.p50,
      single === undefined || sqlite === undefined ? undefined : single + sqlite,
    );
  },
  batchVsSync2pcTimeToConsistency: (run) =>
    div(run('sync-2pc')?.timeToConsistencyMs, run('batch')?.timeToConsistencyMs),
  batchVectorCallsVsSync2pc: (run) => div(run('batch')?.vectorCalls, run('sync-2pc')?.vectorCalls),
};

/**
 * Ratios per vector backend: each ratio is computed within one repeat (runs interleaved in time, so
 * drift hits numerator and denominator alike), then the median over repeats is taken. `sqlite-only`
 * (vector `'none'`) is shared by every backend of its repeat.
 */
export function computeRatios(
  runs: readonly RepeatRun[],
  backends: readonly string[],
  extra: Record<string, (run: Lookup) => number | null> = {},
): Record<string, BackendRatios & Record<string, number | null>> {
  const repeats = [...new Set(runs.map((r) => r.repeat))].sort((a, b) => a - b);
  const out: Record<string, BackendRatios & Record<string, number | null>> = {};
  const definitions = { ...RATIO_DEFINITIONS, ...extra };
  for (const backend of backends) {
    const ratios: Record<string, number | null> = {};
    for (const [key, fn] of Object.entries(definitions)) {
      const values: number[] = [];
      for (const repeat of repeats) {
        const lookup: Lookup = (name) =>
          runs.find(
            (r) =>
              r.repeat === repeat &&
              r.result.name === name &&
              (r.result.vector === backend || (name === 'sqlite-only' && r.result.vector === 'none')),
          )?.result;
        const v = fn(lookup);
        if (v !== null) values.push(v);
      }
      const m = median(values);
      ratios[key] = m === null ? null : round(m, 4);
    }
    out[backend] = ratios as BackendRatios & Record<string, number | null>;
  }
  return out;
}

function div(a: number | undefined, b: number | undefined): number | null {
  if (a === undefined || b === undefined || b === 0 || !Number.isFinite(a) || !Number.isFinite(b))
    return null;
  return a / b;
}
