import {
  type DeleteOptions,
  type UpsertOptions,
  type UpsertReport,
  type VectorRecord,
  type VectorStore,
  VectorStoreWrapper,
} from '@dualwrite/core';
import type { PhaseName } from './protocol.js';

/** One traced vector write call. Times are µs on the system-wide monotonic clock (comparable across processes). */
export interface TracedCall {
  op: 'upsert' | 'delete';
  ids: string[];
  /** Call start, µs. */
  begin: number;
  /** Call end (resolved or rejected), µs. */
  end: number;
  ok: boolean;
  /** `true` for the first write call after a failed one (in sync-2pc, usually the compensation's restore). */
  afterFailure: boolean;
}

/** Options of {@link TracingVectorStore}. */
export interface TracingVectorStoreOptions {
  /** Receives every write call once it settled. */
  onCall?: (call: TracedCall) => void;
  /**
   * Phase reports: `vector` for every write call, `vector-batch` for calls with two or more ids,
   * {@link TracingVectorStoreOptions.afterFailurePhase} for the first write call after a failed one.
   */
  onPhase?: (phase: PhaseName, edge: 'b' | 'e', key: number) => void;
  /**
   * Phase reported for the first write call after a failed one: `compensation` (default; sync-2pc restores
   * the index there) or `retry` (async strategies retry the delivery).
   */
  afterFailurePhase?: 'compensation' | 'retry';
  /** Extra latency of the first write call after a failed one, ms (slows sync-2pc's compensation). */
  slowAfterFailureMs?: number;
  /** Extra latency per write call, ms, drawn per call (jitter). */
  jitterMs?: () => number;
  /** Awaited before each write call reaches the inner store: lets a test hold a specific call. */
  gate?: (op: 'upsert' | 'delete', ids: readonly string[]) => Promise<void> | void;
}

/** Microseconds on the system-wide monotonic clock (`CLOCK_MONOTONIC`, the same in every process). */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Wraps a vector store (usually a `FaultyVectorStore` over a **real** one) and records when each write call
 * begins and ends and which ids it carries, so a test can prove that no id was ever written by two calls at
 * once — across processes too, since the times come from the system-wide monotonic clock. Can also hold a
 * call (`gate`) or slow down the call following a failure. Reads pass through.
 */
export class TracingVectorStore extends VectorStoreWrapper {
  /** Every settled write call, in order of completion. */
  readonly calls: TracedCall[] = [];
  private lastFailed = false;
  private seq = 0;

  constructor(
    inner: VectorStore,
    private readonly options: TracingVectorStoreOptions = {},
  ) {
    super(inner);
  }

  override upsert(
    records: readonly VectorRecord[],
    options?: UpsertOptions,
  ): Promise<UpsertReport | undefined> {
    return this.traced(
      'upsert',
      records.map((r) => r.id),
      () => this.inner.upsert(records, options),
    );
  }

  override delete(ids: readonly string[], options?: DeleteOptions): Promise<void> {
    return this.traced('delete', [...ids], () => this.inner.delete(ids, options));
  }

  private async traced<T>(op: 'upsert' | 'delete', ids: string[], call: () => Promise<T>): Promise<T> {
    const key = this.seq++;
    const afterFailure = this.lastFailed;
    this.lastFailed = false;
    const { onPhase, onCall } = this.options;
    const phases: PhaseName[] = ['vector'];
    if (ids.length > 1) phases.push('vector-batch');
    if (afterFailure) phases.push(this.options.afterFailurePhase ?? 'compensation');
    for (const p of phases) onPhase?.(p, 'b', key);
    const begin = monotonicMicros();
    let ok = false;
    try {
      if (afterFailure && (this.options.slowAfterFailureMs ?? 0) > 0)
        await new Promise((r) => setTimeout(r, this.options.slowAfterFailureMs));
      const jitter = this.options.jitterMs?.() ?? 0;
      if (jitter > 0) await new Promise((r) => setTimeout(r, jitter));
      await this.options.gate?.(op, ids);
      const result = await call();
      ok = true;
      return result;
    } finally {
      const end = monotonicMicros();
      if (!ok) this.lastFailed = true;
      for (const p of phases) onPhase?.(p, 'e', key);
      const traced: TracedCall = { op, ids, begin, end, ok, afterFailure };
      this.calls.push(traced);
      onCall?.(traced);
    }
  }
}
