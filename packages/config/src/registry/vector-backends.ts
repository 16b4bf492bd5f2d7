import { existsSync, mkdirSync } from 'node:fs';
import type { VectorStore } from '@dualwrite/core';
import { BackendStartError } from '../errors.js';
import { ConfigError } from '../load.js';
import type { ResolvedVector, VectorKind } from '../resolved.js';
import { DEFAULT_BACKEND_CONFIG } from '../schema.js';
import { importAdapter } from './lazy-adapter.js';

/** A vector store opened by name. */
export interface OpenedVector {
  store: VectorStore;
  /** Where it is: `lancedb /srv/dw/lancedb (dualwrite)`, `chroma http://127.0.0.1:8000 (dualwrite)`. */
  describe: string;
}

/**
 * What to open: a resolved `vector` section, or just its kind and location (`lancedbDir` for `lancedb`,
 * `chromaUrl` for `chroma`); `collection` defaults to `dualwrite`.
 */
export type VectorTarget = Pick<ResolvedVector, 'kind'> & Partial<ResolvedVector>;

/** Per-process choices about the index that are not configuration. */
export interface OpenVectorOptions {
  /**
   * LanceDB: create a missing directory or table. Default `true` (a writer or a worker starting first fills a
   * new index). An inspecting command passes `false`: pointed at a mistyped path or table name, it must say so,
   * not leave an empty index there.
   */
  create?: boolean;
}

type Opener = (
  section: ResolvedVector,
  dimension: number,
  options: OpenVectorOptions,
) => Promise<OpenedVector>;

/** The vector backends by `vector.kind`. Each imports its adapter only when chosen. */
export const VECTOR_BACKENDS: { readonly [K in VectorKind]: Opener } = {
  async lancedb(section, dimension, options) {
    const { LanceDbVectorStore } = await importAdapter(
      {
        key: 'vector.kind',
        kind: 'lancedb',
        packageName: '@dualwrite/lancedb',
        install: '@dualwrite/lancedb',
      },
      () => import('@dualwrite/lancedb'),
    );
    if (options.create === false && !existsSync(section.lancedbDir))
      throw new BackendStartError(
        `vector.lancedbDir ${section.lancedbDir} does not exist (this command never creates an index); ` +
          'check vector.lancedbDir (DUALWRITE_LANCEDB_DIR, --lancedb-dir) or data-dir',
      );
    mkdirSync(section.lancedbDir, { recursive: true });
    const store = await LanceDbVectorStore.open({
      uri: section.lancedbDir,
      dimension,
      table: section.collection,
      ...(options.create === false ? { create: false } : {}),
    }).catch((error: unknown) => {
      if (options.create !== false || !/table ".*" does not exist/.test((error as Error).message))
        throw error;
      throw new BackendStartError(
        `vector.collection "${section.collection}" is no table in ${section.lancedbDir} (this command never ` +
          'creates an index); check vector.collection (DUALWRITE_COLLECTION, --collection) and vector.lancedbDir',
        { cause: error },
      );
    });
    return { store, describe: `lancedb ${section.lancedbDir} (${section.collection})` };
  },
  async chroma(section, dimension) {
    const { ChromaVectorStore } = await importAdapter(
      { key: 'vector.kind', kind: 'chroma', packageName: '@dualwrite/chroma', install: '@dualwrite/chroma' },
      () => import('@dualwrite/chroma'),
    );
    const url = section.chromaUrl.replace(/\/+$/, '');
    const store = await ChromaVectorStore.open({ url, collection: section.collection, dimension });
    return { store, describe: `chroma ${url} (${section.collection})` };
  },
};

/**
 * Opens the vector store `section.kind` names, with `dimension` (the embedder's).
 * @throws {ConfigError} when `lancedbDir` is missing for `lancedb`; {@link BackendStartError} when it names no
 *   directory, or `collection` no table in it, and `options.create` is `false`; {@link BackendPackageMissingError} when
 *   the adapter is not installed; the store's typed error otherwise
 *   (`BackendUnavailableError` when nothing answers at `chromaUrl`, `DimensionMismatchError` when the
 *   index has another dimension).
 */
export function openVector(
  target: VectorTarget,
  dimension: number,
  options: OpenVectorOptions = {},
): Promise<OpenedVector> {
  const defaults = DEFAULT_BACKEND_CONFIG.vector;
  if (target.kind === 'lancedb' && !target.lancedbDir)
    return Promise.reject(new ConfigError('vector.lancedbDir', 'caller', 'is required for "lancedb"'));
  return VECTOR_BACKENDS[target.kind](
    {
      ...target,
      lancedbDir: target.lancedbDir ?? '',
      chromaUrl: target.chromaUrl ?? defaults.chromaUrl,
      collection: target.collection ?? defaults.collection,
      indexBinding: target.indexBinding ?? defaults.indexBinding,
    },
    dimension,
    options,
  );
}
