import type { EmbeddingInput } from '../record/types.js';
/**
 * Turns texts into embeddings. Called inline by `sync-2pc` and in the drain worker by `async-queue` and
 * `batch` for records written without an embedding. Results are cached in the relational store by
 * `<id>:<sha256(text)>`, so the embedder is never asked twice for the same text.
 */
export interface Embedder {
  /** Stable identity of the model and its settings, part of the cache key, e.g. `'hashing-v1:384'`. */
  readonly id: string;
  /** Output dimension (components per vector). */
  readonly dimension: number;
  /** Largest number of texts per {@link embed} call; callers split larger inputs. */
  readonly maxBatchSize: number;
  /**
   * One embedding per text, in order: arrays of numbers or typed arrays (`Float32Array`, as model libraries
   * return them), each validated against {@link dimension} before use.
   * @throws {TransientBackendError} / {@link BackendUnavailableError} for remote embedders that fail.
   */
  embed(texts: readonly string[]): Promise<readonly EmbeddingInput[]>;
}
