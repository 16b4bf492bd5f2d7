import type { RelationalBackend } from '../backends/relational-backends.js';
import type { VectorBackend } from '../backends/vector-backends.js';
import type { BenchRecord } from '../input/build-records.js';
import type { LatencySummary } from '../measure/percentiles.js';

/** The write strategies under test. */
export const STRATEGY_RUNS = ['sync-2pc', 'async-queue', 'batch'] as const;
/** Reference runs without dualwrite. */
export const BASELINE_RUNS = [
  'sqlite-only',
  'postgres-only',
  'mysql-only',
  'raw-outbox-tx',
  'vector-raw-single',
  'vector-raw-bulk',
  'naive-dual-write',
] as const;

export type StrategyRunName = (typeof STRATEGY_RUNS)[number];
export type BaselineRunName = (typeof BASELINE_RUNS)[number];
export type RunName = StrategyRunName | BaselineRunName;
/** The relational-only baselines: one per relational backend, named `<relational>-only`. */
export type RelationalOnlyRunName = 'sqlite-only' | 'postgres-only' | 'mysql-only';

/** The relational-only baseline of a relational backend. */
export function relationalOnlyRun(relational: 'sqlite' | 'postgres' | 'mysql'): RelationalOnlyRunName {
  return `${relational}-only`;
}

/** `true` for `sqlite-only` / `postgres-only` / `mysql-only`. */
export function isRelationalOnly(name: string): name is RelationalOnlyRunName {
  return name === 'sqlite-only' || name === 'postgres-only' || name === 'mysql-only';
}

/** `true` for the baselines without a vector side: `<relational>-only` and `raw-outbox-tx`. */
export function isRelationalBaseline(name: string): name is RelationalOnlyRunName | 'raw-outbox-tx' {
  return isRelationalOnly(name) || name === 'raw-outbox-tx';
}

/** One row of `latest.json`'s `runs` (exactly these fields). */
export interface RunResult {
  name: RunName;
  kind: 'strategy' | 'baseline';
  /** Vector backend, or `'none'` (`<relational>-only`, `raw-outbox-tx`). */
  vector: string;
  /** Relational backend, or `'none'` (vector-raw-*). */
  relational: string;
  records: number;
  batchSize: number;
  callerLatencyMs: LatencySummary;
  /** Records per second of caller wall time (first call start to last call end). */
  callerThroughput: number;
  /** From the first write until everything written is in both stores (`flush` resolved), ms. */
  timeToConsistencyMs: number;
  /** `records / timeToConsistency`, records per second. */
  endToEndThroughput: number;
  vectorCalls: number;
  retries: number;
  peakRssMb: number;
  /** Records not in the index at their current version. */
  lost: number;
  /** Index entries with no live record. */
  orphans: number;
}

/** Settings shared by every run of one invocation. */
export interface RunSettings {
  batchSize: number;
  /** async-queue workers. */
  concurrency: number;
  vectorLatencyMs: number;
  vectorFailureRate: number;
  /** Seed of the failure injection (each run derives its own from it). */
  seed: number;
  /** Longest a flush may take before the run fails, ms. */
  flushTimeoutMs: number;
  /** Caller-side attempts per write for runs that surface vector failures to the caller. */
  maxCallerAttempts: number;
}

/** Everything a run needs. */
export interface RunContext {
  /** Unique per run; names its temp storage. */
  runId: string;
  records: readonly BenchRecord[];
  dimension: number;
  settings: RunSettings;
  /** `undefined` for the relational-only baselines. */
  vector: VectorBackend | undefined;
  /** The run's relational backend (unused by vector-raw-*). */
  relational: RelationalBackend;
  /** Directory for temp files of this invocation. */
  workDir: string;
  /** Called with the number of records just written (drives the progress bar). */
  onProgress(records: number): void;
}

/** What a run reports besides its {@link RunResult}. */
export interface RunOutcome {
  result: RunResult;
  /** Writes that failed after every caller attempt (not in either store). */
  failedWrites: number;
  /** Human-readable remarks (e.g. injected failures). */
  notes: string[];
}
