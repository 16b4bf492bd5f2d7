import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Embedder, RelationalStore, VectorStore } from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import type { ResolvedConfig } from '../config/load.js';
import { createEmbedder } from '../embedders/create-embedder.js';
import type { StoreKysely } from '../summaries/table.js';
import { BackendConfigError } from './backend-config-error.js';
import { openChroma } from './chroma.js';

/** The opened stores and embedder, ready for `createDualWrite`. */
export interface Backends {
  relational: RelationalStore<StoreKysely>;
  /** Kysely for the service's reads outside store transactions. */
  reader: () => StoreKysely;
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

function openRelational(
  config: ResolvedConfig,
): Pick<Backends, 'relational' | 'reader'> & { describe: string } {
  if (config.relational.kind === 'postgres')
    throw new BackendConfigError(
      'relational backend "postgres" (DUALWRITE_RELATIONAL=postgres / relational.kind) is not available yet: ' +
        'this workspace has no @dualwrite/postgres package. Use DUALWRITE_RELATIONAL=sqlite for now.',
    );
  const path = config.relational.sqlitePath!;
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const store = new SqliteRelationalStore({ path });
  return { relational: store, reader: () => store.kysely, describe: `sqlite ${path}` };
}

async function openVector(config: ResolvedConfig): Promise<{ store: VectorStore; describe: string }> {
  const { dimension } = config.embedder;
  if (config.vector.kind === 'chroma') {
    const store = await openChroma({
      url: config.vector.chromaUrl,
      collection: config.vector.collection,
      dimension,
    });
    return { store, describe: `chroma ${config.vector.chromaUrl} (${config.vector.collection})` };
  }
  const dir = config.vector.lancedbDir!;
  mkdirSync(dir, { recursive: true });
  const store = await LanceDbVectorStore.open({ uri: dir, dimension, table: config.vector.collection });
  return { store, describe: `lancedb ${dir} (${config.vector.collection})` };
}

/**
 * Opens the relational store (not yet initialised: `createDualWrite` does that), the vector store and the
 * embedder the config names. On failure, closes whatever it opened.
 * @throws {BackendConfigError} for a backend that is not available yet; the store's typed error when a
 *   backend cannot be opened.
 */
export async function openBackends(config: ResolvedConfig, hooks: BackendHooks = {}): Promise<Backends> {
  const embedder = createEmbedder(config.embedder);
  const relational = openRelational(config);
  let vector: { store: VectorStore; describe: string };
  try {
    vector = await openVector(config);
  } catch (error) {
    await relational.relational.close().catch(() => {});
    throw error;
  }
  return {
    relational: relational.relational,
    reader: relational.reader,
    vector: hooks.wrapVector ? hooks.wrapVector(vector.store) : vector.store,
    embedder,
    describe: {
      relational: relational.describe,
      vector: vector.describe,
      embedder:
        config.embedder.kind === 'openai'
          ? `openai-compatible ${config.embedder.model} @ ${config.embedder.baseUrl} (${embedder.dimension}-d)`
          : `hashing (lexical, ${embedder.dimension}-d)`,
    },
  };
}
