/**
 * One runtime configuration for dualwrite's processes (the demo API, the worker and operator CLI, the bench,
 * the reliability harness): the shared config sections as one JSON Schema with one table of environment
 * variables and flags, a loader (defaults → JSON file → environment → flags) with errors naming the key and
 * where it came from, and a name → backend registry that imports an adapter only when it is chosen.
 *
 * @packageDocumentation
 */

export { deliveryOptions, strategyConfig } from './dualwrite-options.js';
export {
  OPENAI_EMBEDDER_COMPONENT,
  OpenAiEmbedder,
  type OpenAiEmbedderOptions,
  parseRetryAfter,
} from './embedders/openai-embedder.js';
export { BackendPackageMissingError, BackendStartError, startErrorMessage } from './errors.js';
export {
  ConfigError,
  type ConfigSources,
  type ConfigSpec,
  type DeepPartial,
  loadConfig,
  type Resolved,
  redactConfig,
} from './load.js';
export { createEmbedder, describeEmbedder } from './registry/embedders.js';
export { type OpenedBackends, openBackends } from './registry/open-backends.js';
export {
  type OpenedRelational,
  type OpenRelationalOptions,
  openRelational,
  RELATIONAL_BACKENDS,
  type RelationalStorage,
  type RelationalTarget,
} from './registry/relational-backends.js';
export {
  type OpenedVector,
  type OpenVectorOptions,
  openVector,
  VECTOR_BACKENDS,
  type VectorTarget,
} from './registry/vector-backends.js';
export type { RelationalKind, ResolvedRelational, ResolvedVector, VectorKind } from './resolved.js';
export {
  type BackendConfig,
  BackendConfigSchema,
  BackendSections,
  DEFAULT_BACKEND_CONFIG,
  DEFAULT_PG_SCHEMA,
  EMBEDDER_KINDS,
  type EmbedderSection,
  EmbedderSectionSchema,
  INDEX_BINDING_MODES,
  LOG_LEVELS,
  RELATIONAL_KINDS,
  type RelationalSection,
  RelationalSectionSchema,
  STRATEGY_KINDS,
  type StrategySection,
  StrategySectionSchema,
  VECTOR_KINDS,
  type VectorSection,
  VectorSectionSchema,
} from './schema.js';
export {
  describePostgresUrl,
  describeServerUrl,
  type PostgresUrlParts,
  parsePostgresUrl,
  parseServerUrl,
  type ServerKind,
  type ServerUrlParts,
} from './server-url.js';
export { BACKEND_SETTINGS, parseSettingValue, type Setting, type SettingKind } from './settings.js';
