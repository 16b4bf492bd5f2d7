import {
  type DeleteOptions,
  TransientBackendError,
  type UpsertOptions,
  type UpsertReport,
  type VectorRecord,
  type VectorStore,
  VectorStoreWrapper,
} from '@dualwrite/core';

/** Knobs of {@link InstrumentedVectorStore}. */
export interface InstrumentOptions {
  /** Added before every call except `ping` and `close`, ms. */
  latencyMs: number;
  /** Probability in [0, 1] that an `upsert`/`delete` call throws a transient error instead of running. */
  failureRate: number;
  /** Random source in [0, 1) deciding the failures. */
  random: () => number;
  /** Called when an `upsert` returned, with the records it wrote (those the version fence skipped left out). */
  onUpserted?: (records: readonly VectorRecord[]) => void;
}

/**
 * Wraps a real vector store for the benchmark: adds latency, injects transient failures
 * ({@link TransientBackendError}, HTTP 500, retryable) on write calls, and counts write calls the way
 * core's metrics do (one per `maxBatchSize` chunk). Not core's `FaultyVectorStore`: that one injects
 * random faults as 503s, which the strategies treat as throttling (whole-batch backoff), while
 * `--vector-failure-rate` models plain 500s (split and retried); it also counts chunks, not calls.
 *
 * Failures are injected before the inner call, so a failed call has no effect on the index. `ping` is
 * never failed: a transient error must not look like an outage.
 */
export class InstrumentedVectorStore extends VectorStoreWrapper {
  /** Write calls attempted, failed ones included (chunks of `maxBatchSize`), as core's `vectorCalls` counts. */
  writeCalls = 0;
  /** Write calls failed by injection. */
  injectedFailures = 0;

  constructor(
    inner: VectorStore,
    private readonly options: InstrumentOptions,
  ) {
    super(inner);
  }

  override async upsert(
    records: readonly VectorRecord[],
    options?: UpsertOptions,
  ): Promise<UpsertReport | undefined> {
    await this.beforeWrite(records.length);
    const report = await this.inner.upsert(records, options);
    if (this.options.onUpserted) {
      const fenced = new Set(report?.fenced ?? []);
      this.options.onUpserted(fenced.size === 0 ? records : records.filter((r) => !fenced.has(r.id)));
    }
    return report;
  }

  override async delete(ids: readonly string[], options?: DeleteOptions): Promise<void> {
    await this.beforeWrite(ids.length);
    await this.inner.delete(ids, options);
  }

  private async beforeWrite(size: number): Promise<void> {
    await this.delay();
    if (size === 0) return;
    this.writeCalls += Math.ceil(size / this.inner.maxBatchSize);
    if (this.options.failureRate > 0 && this.options.random() < this.options.failureRate) {
      this.injectedFailures++;
      throw new TransientBackendError('injected transient failure (--vector-failure-rate)', {
        component: 'bench',
        status: 500,
      });
    }
  }

  protected override beforeRead(): Promise<void> {
    return this.delay();
  }

  private async delay(): Promise<void> {
    if (this.options.latencyMs > 0) await new Promise((r) => setTimeout(r, this.options.latencyMs));
  }
}
