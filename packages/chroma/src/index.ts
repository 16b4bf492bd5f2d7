/**
 * `@dualwrite/chroma`: a {@link ChromaVectorStore} for dualwrite (Chroma 1.x over HTTP via the `chromadb`
 * 3.x client). The launcher of a local Chroma server (for tests, benchmarks and development) is a separate
 * entry, `@dualwrite/chroma/local-server`.
 *
 * @packageDocumentation
 */
export {
  CHROMA_COMPONENT,
  type ChromaTransportOptions,
  chromaErrorMessage,
  createChromaTransport,
  errorFromNetwork,
  errorFromResponse,
  parseRetryAfter,
  toDualwriteError,
} from './chroma-errors.js';
export {
  CHROMA_VERSION_KEY,
  type ChromaRecordMetadata,
  type ChromaWhere,
  checkChromaEmbedding,
  checkChromaId,
  checkChromaMetadataKey,
  checkChromaMetadataValue,
  checkChromaText,
  fromChromaMetadata,
  toChromaMetadata,
  toChromaWhere,
} from './chroma-metadata.js';
export {
  CHROMA_CHECKPOINT_METADATA_KEY,
  CHROMA_MAX_LIST_LIMIT,
  CHROMA_MAX_QUERY_K,
  CHROMA_OWNER_METADATA_KEY,
  ChromaVectorStore,
  chromaScore,
} from './chroma-vector-store.js';
export {
  type ChromaAuthOptions,
  type ChromaDistance,
  type ChromaVectorStoreOptions,
  DEFAULT_CHROMA_COLLECTION,
  DEFAULT_CHROMA_DATABASE,
  DEFAULT_CHROMA_DISTANCE,
  DEFAULT_CHROMA_MAX_PAYLOAD_BYTES,
  DEFAULT_CHROMA_MAX_REQUEST_BYTES,
  DEFAULT_CHROMA_REQUEST_TIMEOUT_MS,
  DEFAULT_CHROMA_TENANT,
  type ResolvedChromaVectorStoreOptions,
  resolveChromaVectorStoreOptions,
} from './chroma-vector-store-options.js';
