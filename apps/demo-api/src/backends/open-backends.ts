import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Embedder, RelationalStore, VectorStore } from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { PostgresRelationalStore, postgresErrorCode } from '@dualwrite/postgres';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { sql } from 'kysely';
import type { ResolvedConfig } from '../config/load.js';
import { describePostgresUrl } from '../config/postgres-url.js';
import { createEmbedder } from '../embedders/create-embedder.js';
import type { StoreKysely, SummaryStorage } from '../summaries/table.js';
import { BackendStartError } from './backend-start-error.js';
import { openChroma } from './chroma.js';

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

type OpenedRelational = Pick<Backends, 'relational' | 'reader' | 'storage'> & { describe: string };

async function openRelational(config: ResolvedConfig): Promise<OpenedRelational> {
  if (config.relational.kind === 'postgres') return openPostgres(config);
  const path = config.relational.sqlitePath!;
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const store = new SqliteRelationalStore({ path });
  return {
    relational: store,
    reader: () => store.kysely,
    storage: { dialect: 'sqlite' },
    describe: `sqlite ${path}`,
  };
}

/**
 * Opens the PostgreSQL store and checks that the server answers (so a wrong URL, an unreachable server, a
 * missing database or bad credentials stop the start with a message naming `relational.url`, rather than
 * surfacing later from the first migration). The URL is never logged or shown with its credentials.
 */
async function openPostgres(config: ResolvedConfig): Promise<OpenedRelational> {
  const url = config.relational.url!;
  const { schema } = config.relational;
  const where = `${describePostgresUrl(url)} (schema ${schema})`;
  const store = new PostgresRelationalStore({ connectionString: url, schema });
  try {
    await sql`SELECT 1`.execute(store.kysely);
  } catch (error) {
    await store.close().catch(() => {});
    const code = postgresErrorCode(error);
    const reason = (error instanceof Error && error.message) || code || String(error);
    throw new BackendStartError(
      `cannot connect to PostgreSQL at ${where}: ${reason}${code && !reason.includes(code) ? ` (${code})` : ''}; ` +
        'check relational.url (DATABASE_URL) and that the server is up',
      { cause: error },
    );
  }
  return {
    relational: store,
    reader: () => store.kysely,
    storage: { dialect: 'postgres', schema },
    describe: `postgres ${where}`,
  };
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
 * @throws {BackendStartError} when the PostgreSQL server cannot be reached (or refuses the connection); the
 *   store's typed error when another backend cannot be opened.
 */
export async function openBackends(config: ResolvedConfig, hooks: BackendHooks = {}): Promise<Backends> {
  const embedder = createEmbedder(config.embedder);
  const relational = await openRelational(config);
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
    storage: relational.storage,
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
