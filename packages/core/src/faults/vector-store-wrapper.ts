import type {
  DeleteOptions,
  UpsertOptions,
  UpsertReport,
  VectorHit,
  VectorIdPage,
  VectorQueryOptions,
  VectorStore,
} from '../contracts/vector-store.js';
import type { VectorRecord } from '../record/types.js';
import { optionalCapabilities } from './optional-capabilities.js';

/**
 * Base of a vector store that wraps a real one (fault injection, tracing, benchmark instrumentation):
 * everything passes through to `inner`; the wrapper has exactly the optional capabilities `inner` has
 * (`identity`, `claimIndex`, `stampCheckpoint`, `maxVersion`, `versionsInRange`, `getRecords`, `metadataKeyProblem`,
 * `embeddingProblem`, `recordSizeProblem`,
 * `takeRewind`, `maxConcurrentWrites`, `versionFence`), so callers'
 * feature checks see the truth; {@link beforeRead} runs ahead of every read. A subclass overrides what it
 * changes (usually `upsert`/`delete`, `beforeRead`, `ping`).
 */
export abstract class VectorStoreWrapper implements VectorStore {
  declare readonly identity?: NonNullable<VectorStore['identity']>;
  declare readonly claimIndex?: NonNullable<VectorStore['claimIndex']>;
  declare readonly stampCheckpoint?: NonNullable<VectorStore['stampCheckpoint']>;
  declare readonly maxVersion?: NonNullable<VectorStore['maxVersion']>;
  declare readonly versionsInRange?: NonNullable<VectorStore['versionsInRange']>;
  declare readonly getRecords?: NonNullable<VectorStore['getRecords']>;
  declare readonly metadataKeyProblem?: NonNullable<VectorStore['metadataKeyProblem']>;
  declare readonly embeddingProblem?: NonNullable<VectorStore['embeddingProblem']>;
  declare readonly recordSizeProblem?: NonNullable<VectorStore['recordSizeProblem']>;
  declare readonly takeRewind?: NonNullable<VectorStore['takeRewind']>;
  declare readonly maxConcurrentWrites?: number;

  /**
   * @param capabilitiesBefore - runs ahead of each async optional capability (`identity`, `claimIndex`,
   *   `stampCheckpoint`, `maxVersion`, `versionsInRange`, `getRecords`), e.g. a wrapper's latency or outage injection; none by default.
   */
  constructor(
    readonly inner: VectorStore,
    capabilitiesBefore?: () => Promise<void>,
  ) {
    Object.assign(this, optionalCapabilities(inner, capabilitiesBefore));
  }

  get name(): string {
    return this.inner.name;
  }
  get dimension(): number {
    return this.inner.dimension;
  }
  get maxBatchSize(): number {
    return this.inner.maxBatchSize;
  }
  get versionFence(): boolean {
    return this.inner.versionFence === true;
  }

  /** Runs ahead of `query`, `getVersions`, `listIds` and `count`. Default: nothing. */
  protected async beforeRead(): Promise<void> {}

  upsert(records: readonly VectorRecord[], options?: UpsertOptions): Promise<UpsertReport | undefined> {
    return this.inner.upsert(records, options);
  }

  delete(ids: readonly string[], options?: DeleteOptions): Promise<void> {
    return this.inner.delete(ids, options);
  }

  async query(embedding: readonly number[], options: VectorQueryOptions): Promise<VectorHit[]> {
    await this.beforeRead();
    return this.inner.query(embedding, options);
  }

  async getVersions(ids: readonly string[]): Promise<Map<string, number>> {
    await this.beforeRead();
    return this.inner.getVersions(ids);
  }

  async listIds(options: { cursor?: string; limit: number }): Promise<VectorIdPage> {
    await this.beforeRead();
    return this.inner.listIds(options);
  }

  async count(): Promise<number> {
    await this.beforeRead();
    return this.inner.count();
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
