/**
 * Opening the real backends from a serialisable spec, and assembling the facade the way the suite's
 * processes run it: real stores, wrapped in fault injection and tracing.
 *
 * @packageDocumentation
 */

import { openRelational, openVector } from '@dualwrite/config';
import {
  createDualWrite,
  type DeliveryOptions,
  type DualWrite,
  FaultyVectorStore,
  HashingEmbedder,
  type RelationalStore,
  type StrategyConfig,
  type StrategyName,
  type VectorStore,
} from '@dualwrite/core';
import { DelayedRelationalStore, type DelayedRelationalStoreOptions } from './delayed-relational-store.js';
import type {
  DeliverySpec,
  FaultSpec,
  PhaseName,
  RelationalBackendSpec,
  VectorBackendSpec,
} from './protocol.js';
import type { Rng } from './random.js';
import { type TracedCall, TracingVectorStore } from './tracing-vector-store.js';

/**
 * Opens the real vector store a spec names (LanceDB directory, or a Chroma server collection) through the
 * shared registry of `@dualwrite/config`.
 */
export async function openVectorStore(spec: VectorBackendSpec, dimension: number): Promise<VectorStore> {
  const target =
    spec.kind === 'lancedb'
      ? { kind: spec.kind, lancedbDir: spec.uri }
      : { kind: spec.kind, chromaUrl: spec.url, collection: spec.collection };
  return (await openVector(target, dimension)).store;
}

/**
 * Opens the relational store a spec names through the shared registry of `@dualwrite/config` (not
 * initialised). `busyTimeoutMs` applies to SQLite.
 */
export async function openRelationalStore(
  spec: RelationalBackendSpec,
  busyTimeoutMs?: number,
): Promise<RelationalStore> {
  const target =
    spec.kind === 'sqlite'
      ? { kind: spec.kind, sqlitePath: spec.path }
      : spec.kind === 'postgres'
        ? { kind: spec.kind, url: spec.url, schema: spec.schema }
        : { kind: spec.kind, url: spec.url };
  return (await openRelational(target, { busyTimeoutMs })).store;
}

/** The strategy config for a name (batch gets its batch knobs). */
export function strategyConfig(
  strategy: StrategyName,
  batch?: { maxBatchSize: number; maxDelayMs: number },
): StrategyConfig {
  return strategy === 'batch' && batch ? { name: 'batch', ...batch } : strategy;
}

/** Delivery knobs for the suite: short polls, leases and intent TTLs so recovery happens within a trial. */
export const SUITE_DELIVERY: Readonly<DeliverySpec> = Object.freeze<DeliverySpec>({
  leaseMs: 1_000,
  intentTtlMs: 600,
  pollIntervalMs: 10,
  recoveryIntervalMs: 100,
  maxAttempts: 1_000,
  outageProbeMs: 25,
  maxOutageProbeMs: 250,
  backoff: { baseMs: 5, maxMs: 100, factor: 2, jitter: 'full' },
});

/** Options of {@link openFaultyDualWrite}. */
export interface FaultyDualWriteOptions {
  relational: RelationalBackendSpec;
  vector: VectorBackendSpec;
  dimension: number;
  strategy: StrategyName;
  batch?: { maxBatchSize: number; maxDelayMs: number };
  delivery: DeliverySpec;
  faults: FaultSpec;
  /** Random source of the injected failures (seeded for replay). */
  rng: Rng;
  busyTimeoutMs?: number;
  onPhase?: (phase: PhaseName, edge: 'b' | 'e', key: number) => void;
  onVectorCall?: (call: TracedCall) => void;
  /** Extra hooks for the relational wrapper (tests that hold a transaction). */
  relationalHooks?: Pick<DelayedRelationalStoreOptions, 'beforeBegin' | 'beforeCallback' | 'beforeCommit'>;
}

/** What {@link openFaultyDualWrite} assembled. */
export interface FaultyDualWrite {
  dw: DualWrite;
  relational: DelayedRelationalStore;
  /** The real relational store inside the wrapper. */
  inner: RelationalStore;
  faulty: FaultyVectorStore;
  tracing: TracingVectorStore;
  /** The real vector store. */
  vector: VectorStore;
}

/** `embeddingCacheTtlMs` of the trials' writers, ms: short, so prunes run while the faults do. */
export const TRIAL_EMBEDDING_CACHE_TTL_MS = 1_000;

/**
 * The facade over real stores with the suite's wrappers: the relational store inside a
 * {@link DelayedRelationalStore};
 * the real vector store inside a `FaultyVectorStore` (latency, random transient failures) inside a
 * {@link TracingVectorStore} (call log, phases, slow call after a failure); a `HashingEmbedder`.
 */
export async function openFaultyDualWrite(options: FaultyDualWriteOptions): Promise<FaultyDualWrite> {
  const { faults, rng } = options;
  const inner = await openRelationalStore(options.relational, options.busyTimeoutMs);
  const jitter = (ms: number | undefined) => (ms ? () => Math.round(ms * (0.5 + rng.next())) : 0);
  const relational = new DelayedRelationalStore(inner, {
    beforeMs: jitter(faults.sqlBeforeMs),
    afterMs: jitter(faults.sqlAfterMs),
    onPhase: options.onPhase,
    ...options.relationalHooks,
  });
  const vector = await openVectorStore(options.vector, options.dimension);
  const faulty = new FaultyVectorStore(vector);
  faulty.latencyMs = faults.vectorLatencyMs ?? 0;
  faulty.failureRate = faults.vectorFailureRate ?? 0;
  faulty.random = () => rng.next();
  const tracing = new TracingVectorStore(faulty, {
    onPhase: options.onPhase,
    onCall: options.onVectorCall,
    slowAfterFailureMs: faults.slowAfterFailureMs,
    afterFailurePhase: options.strategy === 'sync-2pc' ? 'compensation' : 'retry',
    jitterMs: faults.vectorJitterMs ? () => rng.int(0, faults.vectorJitterMs!) : undefined,
  });
  const dw = await createDualWrite({
    relational,
    vector: tracing,
    embedder: new HashingEmbedder({ dimension: options.dimension }),
    // Every write's text is new: with a TTL this short the cache is pruned during the trial, beside its faults.
    embeddingCacheTtlMs: TRIAL_EMBEDDING_CACHE_TTL_MS,
    strategy: strategyConfig(options.strategy, options.batch),
    delivery: options.delivery as Partial<DeliveryOptions>,
  });
  return { dw, relational, inner, faulty, tracing, vector };
}
