import { openBackends as openNamedBackends } from '@dualwrite/config';
import type { Embedder, RelationalStore, VectorStore } from '@dualwrite/core';
import type { ResolvedConfig } from '../config/load.js';
import type { StoreKysely, SummaryStorage } from '../summaries/table.js';

/** The opened stores and embedder, ready for `createDualWrite`. */
export interface Backends {
  relational: RelationalStore<StoreKysely>;
  /** Kysely for the service's reads outside store transactions. */
  reader: () => StoreKysely;
  /** Where the service's own tables live (the SQLite file, or the PostgreSQL schema of the store). */
  storage: SummaryStorage;
  vector: VectorStore;
  embedder: Embedder;
  /** Human-readable description of each backend (for status, logs and the dashboard). */
  describe: { relational: string; vector: string; embedder: string };
}

/** Test-only seams of the app factory (never reachable from configuration). */
export interface BackendHooks {
  /** Wraps the vector store, e.g. in `FaultyVectorStore` to inject failures. */
  wrapVector?: (store: VectorStore) => VectorStore;
}

/**
 * Opens the relational store (initialised), the vector store and the embedder the config names, through
 * the shared registry of `@dualwrite/config` (adapters imported only when chosen). On failure, closes
 * whatever it opened.
 * @throws {BackendStartError} (from `@dualwrite/config`) when the PostgreSQL server cannot be reached (or
 *   refuses the connection); the store's typed error when another backend cannot be opened.
 */
export async function openBackends(config: ResolvedConfig, hooks: BackendHooks = {}): Promise<Backends> {
  const opened = await openNamedBackends(config, { applicationName: 'dualwrite-demo-api' });
  return {
    relational: opened.relational.store,
    reader: opened.relational.kysely,
    storage: opened.relational.storage,
    vector: hooks.wrapVector ? hooks.wrapVector(opened.vector.store) : opened.vector.store,
    // `loadConfig` refuses `embedder.kind = none` for the service.
    embedder: opened.embedder!,
    describe: opened.describe,
  };
}
