import type { RunResult } from '../runs/types.js';

/**
 * Comparison ratios of one vector backend on one relational backend (median over repeats of per-repeat
 * ratios; `null` when an input run is missing). Keyed `lancedb` (on SQLite) or `lancedb+postgres`; in a
 * `+postgres` group, "sqlite-only" in the names and descriptions below means `postgres-only` (the group's
 * relational-only baseline), so every group has the same keys.
 */
export interface BackendRatios {
  /** async-queue caller p50 / sqlite-only caller p50. */
  asyncCallerP50VsSqliteOnly: number | null;
  /** batch end-to-end throughput / vector-raw-bulk end-to-end throughput. */
  batchThroughputVsRawBulk: number | null;
  /** sync-2pc caller p50 / (vector-raw-single p50 + sqlite-only p50). */
  sync2pcP50VsRawSum: number | null;
  /** sync-2pc time to consistency / batch time to consistency. */
  batchVsSync2pcTimeToConsistency: number | null;
  /** batch vector calls / sync-2pc vector calls. */
  batchVectorCallsVsSync2pc: number | null;
  /** batch caller p50 / sqlite-only caller p50 (information: one autocommit INSERT is not a put's floor). */
  batchCallerP50VsSqliteOnly: number | null;
  /** async-queue caller p50 / raw-outbox-tx caller p50 (the library's own overhead on a durable put). */
  asyncCallerP50VsRawOutboxTx: number | null;
  /** batch caller p50 / raw-outbox-tx caller p50. */
  batchCallerP50VsRawOutboxTx: number | null;
  /**
   * batch time to consistency / (raw-outbox-tx time for the same puts + vector-raw-bulk time to ingest the
   * same records): the strategy against doing the same work by hand, in sequence.
   */
  batchTimeVsRawOutboxTxPlusBulk: number | null;
  /** sync-2pc time to consistency / async-queue time to consistency. */
  asyncVsSync2pcTimeToConsistency: number | null;
}

/** One target check printed under the table. */
export interface TargetCheck {
  /** The ratios group: vector backend, `+<relational>` unless SQLite (`lancedb`, `lancedb+postgres`). */
  vector: string;
  target: string;
  /** The measured value the target compares (a ratio), or `null` when a run is missing. */
  measured: number | null;
  /** The bound, e.g. `<= 1.2`. */
  bound: string;
  status: 'met' | 'missed' | 'n/a';
}

/** `latest.json`. */
export interface BenchReport {
  meta: Record<string, unknown>;
  runs: RunResult[];
  ratios: Record<string, BackendRatios>;
}
