/** How an environment variable's string is turned into a config value. */
export type EnvKind = 'string' | 'integer' | 'boolean';

/** One environment variable bound to one config key (a dotted path into `AppConfig`). */
export interface EnvBinding {
  env: string;
  key: string;
  kind: EnvKind;
}

/**
 * Environment variables the service reads, each overriding one config key. Later entries win when two
 * variables set the same key (`DUALWRITE_PORT` over `PORT`).
 */
export const ENV_BINDINGS: readonly EnvBinding[] = [
  { env: 'PORT', key: 'server.port', kind: 'integer' },
  { env: 'HOST', key: 'server.host', kind: 'string' },
  { env: 'DUALWRITE_BODY_LIMIT_BYTES', key: 'server.bodyLimitBytes', kind: 'integer' },
  { env: 'DUALWRITE_AUTH_TOKEN', key: 'server.authToken', kind: 'string' },
  { env: 'LOG_LEVEL', key: 'server.logLevel', kind: 'string' },
  { env: 'DUALWRITE_DATA_DIR', key: 'dataDir', kind: 'string' },
  { env: 'DUALWRITE_RELATIONAL', key: 'relational.kind', kind: 'string' },
  { env: 'DUALWRITE_SQLITE_PATH', key: 'relational.sqlitePath', kind: 'string' },
  { env: 'DATABASE_URL', key: 'relational.url', kind: 'string' },
  { env: 'DUALWRITE_PG_SCHEMA', key: 'relational.schema', kind: 'string' },
  { env: 'DUALWRITE_VECTOR', key: 'vector.kind', kind: 'string' },
  { env: 'DUALWRITE_LANCEDB_DIR', key: 'vector.lancedbDir', kind: 'string' },
  { env: 'CHROMA_URL', key: 'vector.chromaUrl', kind: 'string' },
  { env: 'DUALWRITE_COLLECTION', key: 'vector.collection', kind: 'string' },
  { env: 'DUALWRITE_STRATEGY', key: 'strategy.name', kind: 'string' },
  { env: 'DUALWRITE_BATCH_SIZE', key: 'strategy.batchSize', kind: 'integer' },
  { env: 'DUALWRITE_BATCH_MAX_DELAY_MS', key: 'strategy.maxDelayMs', kind: 'integer' },
  { env: 'DUALWRITE_CONCURRENCY', key: 'strategy.concurrency', kind: 'integer' },
  { env: 'DUALWRITE_SYNC_TIMEOUT_MS', key: 'strategy.syncTimeoutMs', kind: 'integer' },
  { env: 'DUALWRITE_MAX_ATTEMPTS', key: 'strategy.maxAttempts', kind: 'integer' },
  { env: 'DUALWRITE_EMBEDDER', key: 'embedder.kind', kind: 'string' },
  { env: 'DUALWRITE_EMBEDDING_DIMENSION', key: 'embedder.dimension', kind: 'integer' },
  { env: 'OPENAI_BASE_URL', key: 'embedder.baseUrl', kind: 'string' },
  { env: 'DUALWRITE_EMBEDDER_MODEL', key: 'embedder.model', kind: 'string' },
  { env: 'OPENAI_API_KEY', key: 'embedder.apiKey', kind: 'string' },
  { env: 'DUALWRITE_EMBEDDER_TIMEOUT_MS', key: 'embedder.timeoutMs', kind: 'integer' },
  { env: 'DUALWRITE_BACKPRESSURE_MAX_DEPTH', key: 'backpressure.maxDepth', kind: 'integer' },
  { env: 'DUALWRITE_BACKPRESSURE_MODE', key: 'backpressure.mode', kind: 'string' },
  { env: 'DUALWRITE_DRAIN_TIMEOUT_MS', key: 'shutdown.drainTimeoutMs', kind: 'integer' },
];

/**
 * Parses one variable. Values that do not parse are returned unchanged (as strings) so that schema
 * validation reports them with the variable's name.
 */
export function parseEnvValue(raw: string, kind: EnvKind): unknown {
  const value = raw.trim();
  if (kind === 'integer') return /^-?\d+$/.test(value) ? Number(value) : value;
  if (kind === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(value)) return true;
    if (/^(0|false|no|off)$/i.test(value)) return false;
    return value;
  }
  return value;
}
