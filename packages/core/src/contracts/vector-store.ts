import type { Metadata, MetadataValue, VectorRecord } from '../record/types.js';

/**
 * Metadata filter for {@link VectorStore.query}: every key must equal its value (logical AND of
 * equalities). `{}` or `undefined` matches everything.
 */
export type MetadataFilter = Record<string, MetadataValue>;

/** Options for {@link VectorStore.query}. */
export interface VectorQueryOptions {
  /** Number of nearest neighbours to return, 1..1000. */
  k: number;
  /** Equality filter on metadata. */
  filter?: MetadataFilter;
}

/** One nearest neighbour. */
export interface VectorHit {
  id: string;
  /** Similarity in [-1, 1] for cosine (higher is closer); adapters document their metric. */
  score: number;
  /** Raw distance the backend reported (lower is closer). */
  distance: number;
  /** Source-of-truth version the vector was built from. */
  version: number;
  text: string;
  metadata: Metadata;
}

/** One page of {@link VectorStore.listIds}. */
export interface VectorIdPage {
  items: { id: string; version: number }[];
  /** Opaque cursor for the next page; `undefined` when this was the last page. */
  nextCursor: string | undefined;
}

/**
 * A vector index holding a derived copy of the records. Adapters implement this contract and run the
 * `vectorStoreSuite` from `@dualwrite/core/testing` against their real backend.
 *
 * Errors: adapters throw {@link ValidationError} / {@link DimensionMismatchError} for input the backend
 * would reject (before sending anything), {@link BackendUnavailableError} when the backend cannot be
 * reached, {@link TransientBackendError} for 5xx/429/timeouts, {@link PermanentBackendError} for other
 * rejections, and {@link ClosedError} after {@link VectorStore.close}.
 */
export interface VectorStore {
  /** Short backend name used in errors, stats and benchmark rows, e.g. `'lancedb'`. */
  readonly name: string;
  /** Vector dimension of the collection (number of float components). */
  readonly dimension: number;
  /**
   * Largest number of records one `upsert` or `delete` call sends to the backend. Callers may pass more;
   * the adapter then splits the call into chunks of at most this many.
   */
  readonly maxBatchSize: number;

  /**
   * Idempotently inserts or replaces records by id. Re-upserting the same record is a no-op in effect;
   * duplicate ids inside one call are allowed and the last one wins.
   * @throws {DimensionMismatchError} if any embedding's length differs from {@link dimension} (nothing sent).
   * @throws {ValidationError} for NaN/±Infinity components or metadata the backend cannot store.
   */
  upsert(records: readonly VectorRecord[]): Promise<void>;

  /** Deletes ids. Unknown ids are ignored (not an error). Any id string is safe (no predicate injection). */
  delete(ids: readonly string[]): Promise<void>;

  /**
   * Nearest neighbours of `embedding`, best first, at most `k`.
   * @throws {DimensionMismatchError} if the query's length differs from {@link dimension}.
   */
  query(embedding: readonly number[], options: VectorQueryOptions): Promise<VectorHit[]>;

  /** Versions stored for `ids`; ids not in the index are absent from the map. */
  getVersions(ids: readonly string[]): Promise<Map<string, number>>;

  /**
   * Pages through every id in the index with its version, `limit` (1..10,000) per page, in an
   * adapter-defined stable order. Memory is bounded by `limit`. Concurrent writes may make a page skip or
   * repeat an id; reconciliation tolerates that (it converges on the next run).
   */
  listIds(options: { cursor?: string; limit: number }): Promise<VectorIdPage>;

  /** Number of vectors in the index. */
  count(): Promise<number>;

  /**
   * Cheap liveness probe.
   * @throws {BackendUnavailableError} when the backend cannot be reached.
   */
  ping(): Promise<void>;

  /** Releases resources. Further calls throw {@link ClosedError}. Idempotent. */
  close(): Promise<void>;
}
