/**
 * What the parent and its child processes (writer, drain worker) exchange: the child's configuration (one
 * JSON argument) and the JSON lines it prints on stdout. Children write each line synchronously (stdout is a
 * pipe, which Node writes synchronously on Linux), so a line printed before a SIGKILL always reaches the
 * parent.
 *
 * @packageDocumentation
 */
import type { BackoffOptions, StrategyName } from '@dualwrite/core';
import type { WorkloadOp } from './workload.js';

/**
 * Which source of truth a process opens: a SQLite file, a PostgreSQL schema or a MySQL / MariaDB database
 * (each process opens its own connection; the parent creates and removes the server-side ones).
 */
export type RelationalBackendSpec =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string; schema: string }
  | { kind: 'mysql'; url: string };

/** Name of a relational backend the suite can run against. */
export type RelationalBackendName = RelationalBackendSpec['kind'];

/** Which vector index a process opens. */
export type VectorBackendSpec =
  | { kind: 'lancedb'; uri: string }
  | { kind: 'chroma'; url: string; collection: string };

/** Name of a vector backend the suite can run against. */
export type VectorBackendName = VectorBackendSpec['kind'];

/** Faults a child injects around its real stores. All times in ms. */
export interface FaultSpec {
  /** `FaultyVectorStore.latencyMs`: added to every vector call. */
  vectorLatencyMs?: number;
  /** Extra random latency per vector write call, uniform in [0, vectorJitterMs]. */
  vectorJitterMs?: number;
  /** `FaultyVectorStore.failureRate`: share of vector write calls failing with a transient 503. */
  vectorFailureRate?: number;
  /** Extra latency of the first vector write call after a failed one (sync-2pc: the compensation's restore). */
  slowAfterFailureMs?: number;
  /** Delay inside every SQL transaction before its callback runs (the write lock is held). */
  sqlBeforeMs?: number;
  /** Delay inside every SQL transaction after its callback, before COMMIT. */
  sqlAfterMs?: number;
}

/** Delivery knobs passed to `createDualWrite({ delivery })` (the JSON-serialisable subset). */
export interface DeliverySpec {
  leaseMs?: number;
  intentTtlMs?: number;
  pollIntervalMs?: number;
  recoveryIntervalMs?: number;
  maxAttempts?: number;
  outageProbeMs?: number;
  maxOutageProbeMs?: number;
  backoff?: BackoffOptions;
}

/** Configuration of a writer process (`writer-main.ts`). */
export interface WriterConfig {
  relational: RelationalBackendSpec;
  vector: VectorBackendSpec;
  /** Vector dimension (the writer uses a `HashingEmbedder` of this dimension). */
  dimension: number;
  strategy: StrategyName;
  /** `maxBatchSize` / `maxDelayMs` for the `batch` strategy. */
  batch?: { maxBatchSize: number; maxDelayMs: number };
  delivery: DeliverySpec;
  faults: FaultSpec;
  /** Seed of the workload. */
  seed: number;
  /** Number of calls to make. */
  writes: number;
  /** Distinct ids (see `createWorkload`). */
  idSpace: number;
  /** Writer tag (in texts and metadata) and id prefix. */
  writer: string;
  idPrefix?: string;
  trickyIds?: boolean;
  /** Pause delivery in this process (other processes drain). */
  pauseDelivery?: boolean;
  /** Print `phase` lines (for kill placement). */
  phases?: boolean;
  /** Print one `vcall` line per vector write call, with begin/end times (for overlap checks). */
  traceVectorCalls?: boolean;
  /** SQLite busy timeout. */
  busyTimeoutMs?: number;
  /** Sleep between calls, ms (0: none). */
  pauseBetweenMs?: number;
  /** Close with `drain: true` at the end (default `false`: leave the backlog to others). */
  drainOnClose?: boolean;
  /** After `ready`, wait for a `go` line on stdin before writing (lets several writers start together). */
  waitForGo?: boolean;
  /**
   * Retry a call that failed with a retryable error (`retryable: true`: the database restarting, a killed
   * connection, a deadlock) for up to this long, ms, printing a `retry` line per failed attempt, before
   * giving up with a `fail` line. Default 0: no retry (every failure is reported at once).
   */
  retryTransientMs?: number;
}

/** Configuration of a drain worker process (`drain-worker-main.ts`). */
export interface WorkerConfig {
  relational: RelationalBackendSpec;
  vector: VectorBackendSpec;
  dimension: number;
  strategy: 'async-queue' | 'batch';
  batch?: { maxBatchSize: number; maxDelayMs: number };
  delivery: DeliverySpec;
  faults: FaultSpec;
  /** Worker tag in its lines. */
  worker: string;
  traceVectorCalls?: boolean;
  busyTimeoutMs?: number;
  /**
   * Runs the process as if on a machine whose wall clock is this far ahead (negative: behind), ms: `Date.now()`
   * and `new Date()` are shifted before the facade opens. The monotonic clock the traces use is not.
   */
  clockSkewMs?: number;
  /** Steps that wall clock by `byMs` more, `afterMs` after the process started. */
  clockStep?: { afterMs: number; byMs: number };
}

/** The outcome of one record of an acknowledged call. */
export interface AckedChange {
  id: string;
  /** Version now current (`null`: delete of an absent id). */
  version: number | null;
  changed: boolean;
}

/**
 * Kinds of phase a child reports, for kill placement. `compensation` (sync-2pc) and `retry` (async strategies)
 * are the first vector write call after a failed one.
 */
export type PhaseName = 'vector' | 'vector-batch' | 'compensation' | 'retry' | 'sql-tx' | 'sql-commit';

/** A JSON line printed by a child process. */
export type ChildLine =
  | { t: 'ready'; pid: number; who: string }
  /** Printed before a call: `seq` is the call's position in the workload. */
  | { t: 'intent'; seq: number; op: WorkloadOp }
  /** Printed after the call resolved. */
  | { t: 'ack'; seq: number; results: AckedChange[] }
  /** Printed after the call rejected. */
  | {
      t: 'fail';
      seq: number;
      name: string;
      code: string | undefined;
      retryable: boolean | undefined;
      message: string;
    }
  /**
   * An attempt of call `seq` failed with a retryable error and the call is tried again (`retryTransientMs`).
   * The attempt may have been applied anyway (e.g. the connection died after COMMIT reached the server).
   */
  | { t: 'retry'; seq: number; code: string | undefined; message: string }
  /** A phase began (`b`) or ended (`e`); `k` tells concurrent phases of one name apart. */
  | { t: 'phase'; p: PhaseName; s: 'b' | 'e'; k: number }
  /** One vector write call: ids and its begin/end on the system-wide monotonic clock, µs. */
  | { t: 'vcall'; who: string; op: 'upsert' | 'delete'; ids: string[]; b: number; e: number; ok: boolean }
  /** An error the drainer handled and retried (e.g. SQLITE_BUSY while claiming). */
  | { t: 'drain-error'; error: string }
  /** The offset the process adds to its clock to read the source's changed (the facade's `clock-offset` event). */
  | { t: 'clock-offset'; offsetMs: number; previousMs: number; roundTripMs: number }
  /** An unhandled rejection or exception: the child exits with code 70 right after. */
  | { t: 'unhandled'; error: string }
  | { t: 'done'; stats: Record<string, unknown> };
