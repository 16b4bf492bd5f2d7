/** The store's own tables and indexes under one prefix: the same in every dialect. */
export interface SqlTableNames {
  /** Records: the source of truth, tombstones included. */
  readonly records: string;
  /** The transactional outbox (one row per record id). */
  readonly outbox: string;
  /** Index of the due pending outbox entries. */
  readonly outboxDueIndex: string;
  /** sync-2pc intents. */
  readonly intents: string;
  /** Index of the intents on `expires_at`. */
  readonly intentsExpiryIndex: string;
  /** Embedding cache. */
  readonly embeddingCache: string;
  /** Index of the embedding cache on `used_at` (the prune's order). */
  readonly embeddingCacheUsedIndex: string;
  /** Key/value facts about the store, e.g. the index binding (schema version 2). */
  readonly meta: string;
  /** Kysely's migration bookkeeping table. */
  readonly migrations: string;
  /** Kysely's migration lock table. */
  readonly migrationLock: string;
}

/** The names of {@link SqlTableNames} for `prefix` (validated by the dialect's options). */
export function sqlTableNames(prefix: string): SqlTableNames {
  return {
    records: `${prefix}records`,
    outbox: `${prefix}outbox`,
    outboxDueIndex: `${prefix}outbox_due`,
    intents: `${prefix}intents`,
    intentsExpiryIndex: `${prefix}intents_expiry`,
    embeddingCache: `${prefix}embedding_cache`,
    embeddingCacheUsedIndex: `${prefix}embedding_cache_used`,
    meta: `${prefix}meta`,
    migrations: `${prefix}migrations`,
    migrationLock: `${prefix}migrations_lock`,
  };
}
