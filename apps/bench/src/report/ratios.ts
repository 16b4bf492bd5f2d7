import { median } from '../measure/percentiles.js';
import { round } from '../runs/run-result.js';
import type { RunName, RunResult } from '../runs/types.js';
import type { BackendRatios } from './types.js';

/** A run with the repeat it belongs to (ratios pair runs of the same repeat). */
export interface RepeatRun {
  repeat: number;
  result: RunResult;
}

/**
 * A column of the ratios: the runs of one vector backend on one relational backend. Its key in
 * `latest.json`'s `ratios` is {@link ratioKey}.
 */
export interface RatioGroup {
  key: string;
  vector: string;
  relational: string;
}

/**
 * `ratios` key of a vector backend on a relational one: the vector name for SQLite (the keys the report
 * always had, e.g. `lancedb`), `<vector>+<relational>` otherwise (e.g. `lancedb+postgres`).
 */
export function ratioKey(vector: string, relational: string): string {
  return relational === 'sqlite' ? vector : `${vector}+${relational}`;
}

/** The ratio groups of an invocation, relational-major (`lancedb`, `chroma`, `lancedb+postgres`, ...). */
export function ratioGroups(vectors: readonly string[], relationals: readonly string[]): RatioGroup[] {
  return relationals.flatMap((relational) =>
    vectors.map((vector) => ({ key: ratioKey(vector, relational), vector, relational })),
  );
}

/**
 * A run of the group by name; `relational-only` is the group's relational-only baseline (`sqlite-only`,
 * `postgres-only` or `mysql-only`), `raw-outbox-tx` the group's relational backend's. The ratio keys keep
 * their historical names (`...VsSqliteOnly`) in every group.
 */
export type Lookup = (name: RunName | 'relational-only') => RunResult | undefined;

/** Ratio extractors: each returns `null` when an input is missing or the denominator is 0. */
export const RATIO_DEFINITIONS: Record<keyof BackendRatios, (run: Lookup) => number | null> = {
  asyncCallerP50VsSqliteOnly: (run) =>
    div(run('async-queue')?.callerLatencyMs.p50, run('relational-only')?.callerLatencyMs.p50),
  batchThroughputVsRawBulk: (run) =>
    div(run('batch')?.endToEndThroughput, run('vector-raw-bulk')?.endToEndThroughput),
  sync2pcP50VsRawSum: (run) => {
    const single = run('vector-raw-single')?.callerLatencyMs.p50;
    const sqlite = run('relational-only')?.callerLatencyMs.p50;
    return div(
      run('sync-2pc')?.callerLatencyMs.p50,
      single === undefined || sqlite === undefined ? undefined : single + sqlite,
    );
  },
  batchVsSync2pcTimeToConsistency: (run) =>
    div(run('sync-2pc')?.timeToConsistencyMs, run('batch')?.timeToConsistencyMs),
  batchVectorCallsVsSync2pc: (run) => div(run('batch')?.vectorCalls, run('sync-2pc')?.vectorCalls),
  batchCallerP50VsSqliteOnly: (run) =>
    div(run('batch')?.callerLatencyMs.p50, run('relational-only')?.callerLatencyMs.p50),
  asyncCallerP50VsRawOutboxTx: (run) =>
    div(run('async-queue')?.callerLatencyMs.p50, run('raw-outbox-tx')?.callerLatencyMs.p50),
  batchCallerP50VsRawOutboxTx: (run) =>
    div(run('batch')?.callerLatencyMs.p50, run('raw-outbox-tx')?.callerLatencyMs.p50),
  batchTimeVsRawOutboxTxPlusBulk: (run) => {
    const tx = run('raw-outbox-tx')?.timeToConsistencyMs;
    const bulk = run('vector-raw-bulk')?.timeToConsistencyMs;
    return div(
      run('batch')?.timeToConsistencyMs,
      tx === undefined || bulk === undefined ? undefined : tx + bulk,
    );
  },
  asyncVsSync2pcTimeToConsistency: (run) =>
    div(run('sync-2pc')?.timeToConsistencyMs, run('async-queue')?.timeToConsistencyMs),
};

/**
 * Ratios per group (vector backend × relational backend; a plain string is a vector backend on SQLite):
 * each ratio is computed within one repeat (runs interleaved in time, so drift hits numerator and
 * denominator alike), then the median over repeats is taken. The relational-only baseline (vector
 * `'none'`) is shared by every vector backend of its relational backend and repeat; `vector-raw-*` (no
 * relational side) by every relational backend of its vector backend and repeat.
 */
export function computeRatios(
  runs: readonly RepeatRun[],
  groups: readonly (string | RatioGroup)[],
  extra: Record<string, (run: Lookup) => number | null> = {},
): Record<string, BackendRatios & Record<string, number | null>> {
  const repeats = [...new Set(runs.map((r) => r.repeat))].sort((a, b) => a - b);
  const out: Record<string, BackendRatios & Record<string, number | null>> = {};
  const definitions = { ...RATIO_DEFINITIONS, ...extra };
  for (const g of groups) {
    const group = typeof g === 'string' ? { key: g, vector: g, relational: 'sqlite' } : g;
    const matches = (name: RunName | 'relational-only', r: RunResult): boolean => {
      if (name === 'relational-only') return r.name === `${group.relational}-only`;
      if (name === 'raw-outbox-tx') return r.name === name && r.relational === group.relational;
      if (r.name !== name || r.vector !== group.vector) return false;
      return name === 'vector-raw-single' || name === 'vector-raw-bulk' || r.relational === group.relational;
    };
    const ratios: Record<string, number | null> = {};
    for (const [key, fn] of Object.entries(definitions)) {
      const values: number[] = [];
      for (const repeat of repeats) {
        const lookup: Lookup = (name) =>
          runs.find((r) => r.repeat === repeat && matches(name, r.result))?.result;
        const v = fn(lookup);
        if (v !== null) values.push(v);
      }
      const m = median(values);
      ratios[key] = m === null ? null : round(m, 4);
    }
    out[group.key] = ratios as BackendRatios & Record<string, number | null>;
  }
  return out;
}

function div(a: number | undefined, b: number | undefined): number | null {
  if (a === undefined || b === undefined || b === 0 || !Number.isFinite(a) || !Number.isFinite(b))
    return null;
  return a / b;
}
