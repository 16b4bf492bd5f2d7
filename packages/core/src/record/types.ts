/** A metadata value: flat JSON scalars only. `null`, arrays and nested objects are rejected; `-0` is stored as `0`. */
export type MetadataValue = string | number | boolean;

/** Flat metadata map. Keys are 1..128 characters and must not start with `_dw` (reserved); symbol keys are rejected. */
export type Metadata = Record<string, MetadataValue>;

/**
 * An embedding as an application or an embedder hands it over: an array of numbers, or the typed arrays model
 * libraries return (`Float32Array`, `Float64Array`). Validated and copied into a plain array at the call.
 */
export type EmbeddingInput = readonly number[] | Float32Array | Float64Array;

/** What an application writes. */
export interface RecordInput {
  /** Caller-chosen id: 1..512 UTF-16 code units, any characters except lone surrogates and NUL. */
  id: string;
  /** The record's text (may be empty). At most `limits.maxTextBytes` UTF-8 bytes (default 1 MiB). */
  text: string;
  /**
   * The embedding: exactly `dimension` finite numbers. Absent when the configured embedder should
   * compute it (inline for `sync-2pc`, in the worker for `async-queue` and `batch`).
   */
  embedding?: EmbeddingInput;
  /** Flat metadata; defaults to `{}`. */
  metadata?: Metadata;
}

/** A record as the source of truth holds it. */
export interface StoredRecord {
  id: string;
  text: string;
  /** The embedding, or `null` while the embedder has not filled it in yet. */
  embedding: number[] | null;
  metadata: Metadata;
  /** Store-assigned version, strictly increasing per id (drawn from one store-wide sequence). */
  version: number;
  /** `true` for a tombstone: deleted in SQL, not yet (or just) removed from the vector index. */
  deleted: boolean;
  /** Hash of text + metadata + embedding, used to make unchanged puts a no-op. */
  contentHash: string;
  /** Version last confirmed applied to the vector index, or `null` if never. */
  syncedVersion: number | null;
  /** Creation time, Unix ms. */
  createdAt: number;
  /** Last change time, Unix ms. */
  updatedAt: number;
}

/** The `(id, version)` pair reconciliation pages through. */
export interface RecordVersion {
  id: string;
  version: number;
  /** `true` for a tombstone (the id must not be in the vector index). */
  deleted: boolean;
}

/** A live record's acknowledged version: the highest the index confirmed holding (see `RelationalStore.recentlySynced`). */
export interface SyncedVersion {
  id: string;
  syncedVersion: number;
}

/** What the vector index holds for one record: a derived copy of the record at `version`. */
export interface VectorRecord {
  id: string;
  embedding: readonly number[];
  text: string;
  metadata: Metadata;
  /** The source-of-truth version this vector was built from. */
  version: number;
}
