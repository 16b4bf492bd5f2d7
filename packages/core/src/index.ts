export type { Embedder } from './contracts/embedder.js';
export type * from './contracts/outbox.js';
export {
  countLiveRecords,
  enqueueRepairs,
  readOutboxEntry,
  setEmbedding,
  setEmbeddings,
} from './contracts/relational-operations.js';
export {
  type EmbeddingCache,
  type EmbeddingUpdate,
  hasEmbeddingCache,
  hasIntentLog,
  type IntentCommit,
  type IntentCommitOptions,
  type IntentLogStore,
  type IntentLogTx,
  type OutboxWakeUp,
  type PreparedIntent,
  type RecordWrite,
  type RelationalStore,
  type RelationalTx,
  type TwoPhaseFastPath,
  type WakeUpHealth,
} from './contracts/relational-store.js';
export type {
  DeleteOptions,
  MetadataFilter,
  UpsertOptions,
  UpsertReport,
  VectorHit,
  VectorIdPage,
  VectorIndexIdentity,
  VectorQueryOptions,
  VectorStore,
  VersionedId,
  VersionRange,
} from './contracts/vector-store.js';
export type {
  Change,
  StrategyContext,
  StrategyName,
  StrategyStats,
  WriteResult,
  WriteStrategy,
} from './contracts/write-strategy.js';
export {
  DEFAULT_EMBEDDING_CACHE_TTL_MS,
  EmbeddingService,
  type EmbeddingServiceOptions,
} from './embedders/embedding-service.js';
export { HashingEmbedder, type HashingEmbedderOptions } from './embedders/hashing-embedder.js';
export { validateEmbedder } from './embedders/validate-embedder.js';
export * from './errors.js';
export {
  type CloseOptions,
  type CloseReport,
  createDualWrite,
  type DeadLetter,
  type DeadLetterListOptions,
  DualWrite,
  type DualwriteStats,
  type FlushReport,
  type UnitOfWork,
  type WaitOptions,
} from './facade/dualwrite.js';
export type { BackpressureOptions, DualWriteOptions } from './facade/dualwrite-options.js';
export { type DualwriteEventMap, type DualwriteEventName, DualwriteEvents } from './facade/events.js';
export { createMetrics, type SyncMetrics } from './facade/metrics.js';
export { matchesFilter, type SearchHit, type SearchOptions, type StaleHitPolicy } from './facade/search.js';
export type { SyncStatus } from './facade/sync-status.js';
export { validateDualWriteOptions } from './facade/validate-options.js';
export { FaultyVectorStore, type VectorCall } from './faults/faulty-vector-store.js';
export { type OptionalVectorCapabilities, optionalCapabilities } from './faults/optional-capabilities.js';
export { VectorStoreWrapper } from './faults/vector-store-wrapper.js';
export {
  type BindingOutcome,
  bindIndex,
  type CheckpointProbe,
  type ClaimIndex,
  type ConfiguredIndex,
  type ForeignRows,
  INDEX_BINDING_KEY,
  INDEX_DRIFT_KEY,
  INDEX_REPAIRED_AT_KEY,
  type IndexBinding,
  type IndexDrift,
  readBinding,
  recordDrift,
  SOURCE_TOKEN_KEY,
  sourceToken,
} from './integrity/index-binding.js';
export {
  checkpointBehind,
  holdsCheckpoint,
  INDEX_CHECKPOINT_INTENT_KEY,
  INDEX_CHECKPOINT_KEY,
  passCheckpoint,
  restampCheckpoint,
} from './integrity/index-checkpoint.js';
export { type DriftCheckOptions, IndexGuard, type IndexGuardContext } from './integrity/index-guard.js';
export { INDEX_ROWS_CHECKED_KEY, rowsAheadOfSource } from './integrity/rows-since-check.js';
export { checkClaimOwners, MAX_CLAIM_OWNERS } from './outbox/claim-owners.js';
export { BACKLOG_CLAIM_BYTES, BACKLOG_CLAIM_SIZE } from './outbox/claim-size.js';
export { type DeliveryOptions, resolveDeliveryOptions } from './outbox/delivery-options.js';
export { classifyFailure, type FailureClass } from './outbox/failure-classification.js';
export { type DrainerOptions, OutboxDrainer } from './outbox/outbox-drainer.js';
export {
  ackDelivery,
  enqueueRepair,
  failDelivery,
  IN_DOUBT,
  type LedgerOutboxPatch,
  type LedgerOutboxRow,
  type LedgerTx,
  NO_LEASE,
  overtaken,
  releaseLease,
  renewLease,
  supersedes,
} from './outbox/outbox-ledger.js';
export { type ReconcileOptions, type ReconcileReport, reconcile } from './reconcile/reconciler.js';
export {
  type ConsistencyReport,
  type VerifyOptions,
  verifyConsistency,
} from './reconcile/verify-consistency.js';
export { contentHash, contentHashPrefix, textHash } from './record/content-hash.js';
export { decodeEmbedding, encodeEmbedding, toFloat32Precision } from './record/embedding-codec.js';
export { filledByEmbedder } from './record/embedding-provenance.js';
export { DEFAULT_LIMITS, RESERVED_METADATA_PREFIX, type RecordLimits } from './record/limits.js';
export {
  type ContentField,
  contentDifference,
  METADATA_NUMBER_READ_BACK_TOLERANCE,
  metadataMatches,
  VECTOR_READ_BACK_TOLERANCE,
  vectorsMatch,
} from './record/record-equality.js';
export {
  checkStoreCount,
  checkStoreMark,
  checkStoreTime,
  checkStoreVersion,
} from './record/store-arguments.js';
export { checkSyncedRange, type SyncedOrder } from './record/synced-order.js';
export type {
  EmbeddingInput,
  Metadata,
  MetadataValue,
  RecordInput,
  RecordVersion,
  StoredRecord,
  SyncedVersion,
  VectorRecord,
} from './record/types.js';
export {
  lacksDirection,
  type MetadataKeyCheck,
  maxEmbeddingComponent,
  type ValidRecord,
  validateEmbedding,
  validateId,
  validateMetadata,
  validateMetaKey,
  validateRecord,
  validateText,
} from './record/validate.js';
export {
  checkVersionRange,
  isForeignVersion,
  MAX_TRUSTED_VERSION,
  MAX_VERSION_RANGE_LIMIT,
} from './record/version-range.js';
export { type AsyncQueueOptions, AsyncQueueStrategy } from './strategies/async-queue-strategy.js';
export { type BatchOptions, BatchStrategy } from './strategies/batch-strategy.js';
export { OutboxStrategy } from './strategies/outbox-strategy.js';
export { createStrategy, STRATEGY_NAMES, type StrategyConfig } from './strategies/strategy-registry.js';
export {
  RACED_REDELIVERY_WAIT_MS,
  type Sync2pcOptions,
  Sync2pcStrategy,
  type VectorFailureMode,
} from './strategies/sync-2pc-strategy.js';
export { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from './util/backoff.js';
export { chunksBySize } from './util/chunks-by-size.js';
export { type Clock, MAX_TIMER_MS, ManualClock, systemClock } from './util/clock.js';
export { describeValue } from './util/describe-value.js';
export { EventLoopYield } from './util/event-loop-yield.js';
export { type OptionKeys, refuseUnknownKeys, type UnknownKeyWording } from './util/option-keys.js';
export {
  type ChangePlan,
  changeId,
  compareIds,
  planOne,
  planWrites,
  type WritePlan,
  writeChangesWithOutbox,
} from './write/plan-change.js';
export {
  type CommitFacts,
  type CommitStep,
  commitIntentsInTx,
  commitStep,
  outlivedIntent,
  prepareIntentsInTx,
} from './write/two-phase.js';
