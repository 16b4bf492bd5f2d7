import { BackendUnavailableError, type Embedder } from '@dualwrite/core';
import { BackendStartError } from '../errors.js';
import type { Resolved } from '../load.js';
import type { BackendConfig } from '../schema.js';
import { describeServerUrl } from '../server-url.js';
import { createEmbedder, describeEmbedder } from './embedders.js';
import { type OpenedRelational, type OpenRelationalOptions, openRelational } from './relational-backends.js';
import { type OpenedVector, type OpenVectorOptions, openVector } from './vector-backends.js';

/** Both stores and the embedder a config names, opened. */
export interface OpenedBackends {
  relational: OpenedRelational;
  vector: OpenedVector;
  /** `undefined` for `embedder.kind = none`. */
  embedder: Embedder | undefined;
  /** One line per backend (no credentials), for logs, status and dashboards. */
  describe: { relational: string; vector: string; embedder: string };
}

/**
 * Opens what the config names: the relational store first, **initialised** (migrated), so a missing SQLite
 * file (with `create: false`), an unreachable server or bad credentials stop the start before anything
 * (a LanceDB directory) is created; then the vector store (a missing LanceDB directory is created unless
 * `options.createIndex` is `false`); then the embedder. Closes what it opened when a later step fails.
 * @throws {BackendStartError} naming `relational.url` when PostgreSQL cannot be reached or refuses the
 *   connection (`cause` is the driver's error; the URL's credentials are never shown), `relational.sqlitePath`
 *   when it is a directory, `vector.lancedbDir` when it is missing and `createIndex` is `false`, the SQLite file
 *   when it is missing while `relational.url` is set (the kind was most likely meant to be a server's),
 *   `embedder.dimension` when the index holds vectors of another dimension; the store's own
 *   typed error otherwise (e.g. `BackendUnavailableError` for a missing SQLite file or an unreachable
 *   Chroma); `BackendPackageMissingError` when an adapter is not installed.
 */
export async function openBackends(
  config: Resolved<BackendConfig>,
  options: OpenRelationalOptions & { createIndex?: OpenVectorOptions['create'] } = {},
): Promise<OpenedBackends> {
  const relational = await openRelational(config.relational, options);
  let vector: OpenedVector;
  try {
    await initialise(relational, config);
    vector = await openVector(config.vector, config.embedder.dimension, {
      create: options.createIndex,
    }).catch((error: unknown) => {
      throw withDimensionHint(error);
    });
  } catch (error) {
    await relational.store.close().catch(() => {});
    throw error;
  }
  return {
    relational,
    vector,
    embedder: createEmbedder(config.embedder),
    describe: {
      relational: relational.describe,
      vector: vector.describe,
      embedder: describeEmbedder(config.embedder),
    },
  };
}

async function initialise(relational: OpenedRelational, config: Resolved<BackendConfig>): Promise<void> {
  try {
    await relational.store.init();
  } catch (error) {
    const code = driverCode(error);
    // Unreachable, refused credentials (PostgreSQL class 28) or a missing database (3D000; MySQL's map to
    // BackendUnavailableError): the URL is what to check.
    const connecting =
      error instanceof BackendUnavailableError || (code !== undefined && /^(28|3D)/.test(code));
    const { kind, url, schema, sqlitePath } = config.relational;
    if (kind === 'sqlite' && (error as { field?: unknown }).field === 'options.path')
      throw new BackendStartError(
        `relational.sqlitePath ${sqlitePath} is a directory, not a SQLite file; check relational.sqlitePath ` +
          '(DUALWRITE_SQLITE_PATH, --sqlite-path) or data-dir',
        { cause: error },
      );
    if (kind === 'sqlite' && url !== undefined && error instanceof BackendUnavailableError)
      // A server URL given while the kind is left at SQLite: most likely meant for the server.
      throw new BackendStartError(
        `${error.message}; relational.url (DATABASE_URL, --database-url) is set but relational.kind is "sqlite": ` +
          'set DUALWRITE_RELATIONAL (--relational) to postgres or mysql to use that server',
        { cause: error },
      );
    if (kind === 'sqlite' || !connecting) throw error;
    const where = `${describeServerUrl(url!, kind)}${kind === 'postgres' ? ` (schema ${schema})` : ''}`;
    const cause = (error as { cause?: unknown }).cause;
    const reason = cause instanceof Error && cause.message ? cause.message : (error as Error).message;
    throw new BackendStartError(
      `cannot connect to ${kind === 'postgres' ? 'PostgreSQL' : 'MySQL'} at ${where}: ${reason}${code && !reason.includes(code) ? ` (${code})` : ''}; ` +
        'check relational.url (DATABASE_URL) and that the server is up',
      { cause: error },
    );
  }
}

/**
 * An index of another dimension than `embedder.dimension` (a `DimensionMismatchError`, by its code: `expected`
 * is the index's) as a {@link BackendStartError} naming the setting to change; any other error as it is.
 */
function withDimensionHint(error: unknown): unknown {
  const { code, expected, message } = error as { code?: unknown; expected?: unknown; message?: unknown };
  if (code !== 'DIMENSION_MISMATCH' || typeof expected !== 'number') return error;
  return new BackendStartError(
    `${String(message)}; the index holds ${expected}-dimension vectors: set embedder.dimension ` +
      `(DUALWRITE_EMBEDDING_DIMENSION, --dim) to ${expected}, or point the vector settings at another index`,
    { cause: error },
  );
}

/** The first string `code` down the `cause` chain (`ECONNREFUSED`, `28P01`, ...). */
function driverCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
