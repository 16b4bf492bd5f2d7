import { mkdirSync } from 'node:fs';
import { type Embedder, HashingEmbedder, type RelationalStore, type VectorStore } from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { PostgresRelationalStore } from '@dualwrite/postgres';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import type { WorkerConfig } from './config.js';

/** The stores (not yet initialised: `createDualWrite` does that) and the embedder of one worker. */
export interface WorkerBackends {
  relational: RelationalStore;
  vector: VectorStore;
  embedder: Embedder | undefined;
  /** Human-readable description of each backend, for the start log line (no secrets). */
  describe: { relational: string; vector: string; embedder: string };
}

/** Opens the relational store the configuration names. */
export function openRelational(config: WorkerConfig): { store: RelationalStore; describe: string } {
  if (config.relational === 'postgres') {
    const store = new PostgresRelationalStore({
      connectionString: config.databaseUrl!,
      schema: config.pgSchema,
      tablePrefix: config.tablePrefix,
      poolSize: config.pgPoolSize,
      pool: { application_name: 'dualwrite-worker' },
    });
    return { store, describe: `postgres schema ${config.pgSchema}, prefix ${config.tablePrefix}` };
  }
  // A worker only drains what writers wrote: a path to nothing is a configuration error, not an empty database.
  const store = new SqliteRelationalStore({
    path: config.sqlitePath,
    tablePrefix: config.tablePrefix,
    create: false,
  });
  return { store, describe: `sqlite ${config.sqlitePath}` };
}

/**
 * Opens the vector store the configuration names.
 * @throws the store's typed error (e.g. `BackendUnavailableError` when nothing answers at `chromaUrl`,
 *   `DimensionMismatchError` when the index has another dimension).
 */
export async function openVector(config: WorkerConfig): Promise<{ store: VectorStore; describe: string }> {
  if (config.vector === 'chroma') {
    // Imported lazily so a LanceDB worker never loads the Chroma client.
    const { ChromaVectorStore } = await import('@dualwrite/chroma');
    const store = await ChromaVectorStore.open({
      url: config.chromaUrl,
      collection: config.collection,
      dimension: config.dimension,
    });
    return { store, describe: `chroma ${config.chromaUrl} (${config.collection})` };
  }
  mkdirSync(config.lancedbDir, { recursive: true });
  const store = await LanceDbVectorStore.open({
    uri: config.lancedbDir,
    dimension: config.dimension,
    table: config.collection,
  });
  return { store, describe: `lancedb ${config.lancedbDir} (${config.collection})` };
}

/**
 * Opens both stores and the embedder; closes what was opened if a later step fails. The source of truth
 * is initialised first, so a missing SQLite file or an unreachable database stops the start before
 * anything (a LanceDB directory) is created.
 */
export async function openBackends(config: WorkerConfig): Promise<WorkerBackends> {
  const relational = openRelational(config);
  let vector: { store: VectorStore; describe: string };
  try {
    await relational.store.init();
    vector = await openVector(config);
  } catch (error) {
    await relational.store.close().catch(() => {});
    throw error;
  }
  const embedder =
    config.embedder === 'hashing' ? new HashingEmbedder({ dimension: config.dimension }) : undefined;
  return {
    relational: relational.store,
    vector: vector.store,
    embedder,
    describe: {
      relational: relational.describe,
      vector: vector.describe,
      embedder: embedder === undefined ? 'none' : `hashing (${config.dimension} d)`,
    },
  };
}
