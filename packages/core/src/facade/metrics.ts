/** Cumulative counters since the facade started. */
export interface SyncMetrics {
  /** Calls made to the vector store's upsert/delete (a call the adapter chunks counts once per chunk). */
  vectorCalls: number;
  /** Records delivered to the vector index (upserts and deletes). */
  vectorRecords: number;
  /** Failed deliveries that were rescheduled. */
  retries: number;
  /** Changes moved to dead letter. */
  deadLettered: number;
  /**
   * Changes acknowledged as applied: by a delivery's ack, or (sync-2pc) by the commit of a write the call itself
   * applied to the index.
   */
  synced: number;
  /** Calls made to the embedder. */
  embedderCalls: number;
  /** Texts embedded (cache misses). */
  embeddedTexts: number;
  /** Texts served from the embedding cache. */
  embeddingCacheHits: number;
  /** Embedding cache entries this process deleted as unused for the cache's TTL (`embeddingCacheTtlMs`). */
  embeddingCacheEvicted: number;
  /** sync-2pc compensations (vector restored after a failed commit). */
  compensations: number;
  /** Upserts the index's version fence refused (it held a newer version); released and redelivered. */
  fenced: number;
  /** Deliveries dropped before writing because their lease was lost (another worker owns the entry). */
  leasesLost: number;
  /**
   * Deliveries written to the index whose ack found the lease gone: another process took the entry over (this
   * one's lease ran out first: a slow write, or machines whose clocks disagree — see `stats().clockOffsetMs`) and
   * delivers it again. Wasted work, not lost data; not counted in `synced`.
   */
  acksLost: number;
  /**
   * Outbox entries this process claimed whose earlier claim's vector write may still land (`OutboxLease.takenOver`):
   * taken over from an expired lease (a worker that died or stalled before its ack), or given back in doubt after
   * a failed write. Their ids are watched for a late landing like this process's own failed writes.
   */
  leasesTakenOver: number;
  /** Times a writer yielded to the event loop so delivery, timers and I/O could run. */
  writerYields: number;
  /**
   * Records repaired because a vector write that had failed (a timeout) landed late over a newer acknowledged
   * state, found by the `LateWriteWatch` (stores without a version fence: Chroma).
   */
  lateWritesRepaired: number;
}

/** A zeroed {@link SyncMetrics}. */
export function createMetrics(): SyncMetrics {
  return {
    vectorCalls: 0,
    vectorRecords: 0,
    retries: 0,
    deadLettered: 0,
    synced: 0,
    embedderCalls: 0,
    embeddedTexts: 0,
    embeddingCacheHits: 0,
    embeddingCacheEvicted: 0,
    compensations: 0,
    fenced: 0,
    leasesLost: 0,
    acksLost: 0,
    leasesTakenOver: 0,
    writerYields: 0,
    lateWritesRepaired: 0,
  };
}
