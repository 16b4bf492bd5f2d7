/**
 * `@dualwrite/lancedb`: a {@link VectorStore} on embedded LanceDB.
 *
 * ```ts
 * const store = await LanceDbVectorStore.open({ uri: './data/vectors', dimension: 384 });
 * ```
 *
 * @packageDocumentation
 */

export { AutoOptimizePacer, type AutoOptimizeState } from './auto-optimize-pacer.js';
export { LANCEDB_COMPONENT, shortLanceDbMessage, toLanceDbError } from './lancedb-errors.js';
export {
  CHECKPOINT_METADATA_KEY,
  COLUMNS,
  INDEX_ID_METADATA_KEY,
  idAfterPredicate,
  idInPredicate,
  inspectSchema,
  type LanceDbRow,
  lanceDbSchema,
  metadataPrefilter,
  OWNER_METADATA_KEY,
  type SchemaInspection,
  sqlString,
  toLanceRows,
  toLanceTable,
} from './lancedb-schema.js';
export {
  type LanceDbOptimizeStats,
  LanceDbVectorStore,
  UNREADABLE_METADATA_KEY,
} from './lancedb-vector-store.js';
export {
  LANCEDB_DEFAULTS,
  type LanceDbDistance,
  type LanceDbVectorStoreOptions,
  type ResolvedLanceDbVectorStoreOptions,
  resolveLanceDbOptions,
} from './lancedb-vector-store-options.js';
