export * from './errors.js';
export type { Metadata, MetadataValue, RecordInput, RecordVersion, StoredRecord, VectorRecord } from './record/types.js';
export { DEFAULT_LIMITS, RESERVED_METADATA_PREFIX, type RecordLimits } from './record/limits.js';
export {
  validateEmbedding,
  validateId,
  validateMetadata,
  validateRecord,
  validateText,
  type ValidRecord,
} from './record/validate.js';
export { decodeEmbedding, encodeEmbedding, toFloat32Precision } from './record/embedding-codec.js';
export { contentHash, textHash } from './record/content-hash.js';
export type * from './contracts/outbox.js';
export type { RecordWrite, RelationalStore, RelationalTx } from './contracts/relational-store.js';
export type {
  MetadataFilter,
  VectorHit,
  VectorIdPage,
  VectorQueryOptions,
  VectorStore,
} from './contracts/vector-store.js';
export type { Embedder } from './contracts/embedder.js';
export { type Clock, ManualClock, systemClock } from './util/clock.js';
export { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from './util/backoff.js';
export { HashingEmbedder, type HashingEmbedderOptions } from './embedders/hashing-embedder.js';
