/** How a string from the environment or a flag is turned into a config value. */
export type SettingKind = 'string' | 'integer' | 'boolean';

/**
 * One config key and the names it goes by outside a config file: an environment variable and, for
 * command-line programs, a flag. The one table of these is what keeps every process's names the same.
 */
export interface Setting {
  /** Dotted config key, e.g. `strategy.batchSize`. */
  key: string;
  /** Environment variable, e.g. `DUALWRITE_BATCH_SIZE`. */
  env?: string;
  /** Long flag without dashes, e.g. `batch-size`. */
  flag?: string;
  kind: SettingKind;
  /** One line for `--help`. */
  help: string;
}

/** The settings of the shared sections (`BackendSections`), with the same names in every process. */
export const BACKEND_SETTINGS: readonly Setting[] = [
  {
    key: 'dataDir',
    env: 'DUALWRITE_DATA_DIR',
    flag: 'data-dir',
    kind: 'string',
    help: 'home of the SQLite file and the LanceDB directory (default ./data)',
  },
  {
    key: 'relational.kind',
    env: 'DUALWRITE_RELATIONAL',
    flag: 'relational',
    kind: 'string',
    help: 'source of truth: sqlite | postgres | mysql (default sqlite)',
  },
  {
    key: 'relational.sqlitePath',
    env: 'DUALWRITE_SQLITE_PATH',
    flag: 'sqlite-path',
    kind: 'string',
    help: 'SQLite file (default <data-dir>/dualwrite.sqlite)',
  },
  {
    key: 'relational.url',
    env: 'DATABASE_URL',
    flag: 'database-url',
    kind: 'string',
    help: 'server URL: postgres://user:password@host:5432/db or mysql://user:password@host:3306/db',
  },
  {
    key: 'relational.schema',
    env: 'DUALWRITE_PG_SCHEMA',
    flag: 'pg-schema',
    kind: 'string',
    help: 'PostgreSQL schema of the tables (default public)',
  },
  {
    key: 'relational.tablePrefix',
    env: 'DUALWRITE_TABLE_PREFIX',
    flag: 'table-prefix',
    kind: 'string',
    help: "prefix of dualwrite's own tables (default dw_)",
  },
  {
    key: 'relational.poolSize',
    env: 'DUALWRITE_PG_POOL_SIZE',
    flag: 'pg-pool-size',
    kind: 'integer',
    help: 'PostgreSQL / MySQL pool size (default 4)',
  },
  {
    key: 'vector.kind',
    env: 'DUALWRITE_VECTOR',
    flag: 'vector',
    kind: 'string',
    help: 'index: lancedb | chroma (default lancedb)',
  },
  {
    key: 'vector.lancedbDir',
    env: 'DUALWRITE_LANCEDB_DIR',
    flag: 'lancedb-dir',
    kind: 'string',
    help: 'LanceDB directory (default <data-dir>/lancedb)',
  },
  {
    key: 'vector.chromaUrl',
    env: 'CHROMA_URL',
    flag: 'chroma-url',
    kind: 'string',
    help: 'Chroma server URL (default http://127.0.0.1:8000)',
  },
  {
    key: 'vector.collection',
    env: 'DUALWRITE_COLLECTION',
    flag: 'collection',
    kind: 'string',
    help: 'LanceDB table / Chroma collection (default dualwrite)',
  },
  {
    key: 'vector.indexBinding',
    env: 'DUALWRITE_INDEX_BINDING',
    flag: 'index-binding',
    kind: 'string',
    help: 'verify | rebind: when the data is bound to another index or embedder, refuse to start, or move it here and repair (default verify)',
  },
  {
    key: 'embedder.kind',
    env: 'DUALWRITE_EMBEDDER',
    flag: 'embedder',
    kind: 'string',
    help: 'hashing | openai | none (default hashing)',
  },
  {
    key: 'embedder.dimension',
    env: 'DUALWRITE_EMBEDDING_DIMENSION',
    flag: 'dim',
    kind: 'integer',
    help: 'vector dimension, must match the index (default 384)',
  },
  {
    key: 'embedder.baseUrl',
    env: 'OPENAI_BASE_URL',
    flag: 'embedder-base-url',
    kind: 'string',
    help: 'openai: base URL, e.g. https://api.openai.com/v1',
  },
  {
    key: 'embedder.model',
    env: 'DUALWRITE_EMBEDDER_MODEL',
    flag: 'embedder-model',
    kind: 'string',
    help: 'openai: model name',
  },
  {
    key: 'embedder.apiKey',
    env: 'OPENAI_API_KEY',
    kind: 'string',
    help: 'openai: API key (environment or config file only)',
  },
  {
    key: 'embedder.timeoutMs',
    env: 'DUALWRITE_EMBEDDER_TIMEOUT_MS',
    flag: 'embedder-timeout-ms',
    kind: 'integer',
    help: 'openai: per-call timeout, ms (default 30000)',
  },
  {
    key: 'embedder.cacheTtlMs',
    env: 'DUALWRITE_EMBEDDING_CACHE_TTL_MS',
    flag: 'embedding-cache-ttl-ms',
    kind: 'integer',
    help: 'embedding cache entries unused this long are pruned, ms; 0 keeps all (default 604800000: 7 days)',
  },
  {
    key: 'strategy.name',
    env: 'DUALWRITE_STRATEGY',
    flag: 'strategy',
    kind: 'string',
    help: 'sync-2pc | async-queue | batch (default batch)',
  },
  {
    key: 'strategy.batchSize',
    env: 'DUALWRITE_BATCH_SIZE',
    flag: 'batch-size',
    kind: 'integer',
    help: 'batch: changes per vector call while delivery keeps up (default 256)',
  },
  {
    key: 'strategy.backlogBatchSize',
    env: 'DUALWRITE_BACKLOG_BATCH_SIZE',
    flag: 'backlog-batch-size',
    kind: 'integer',
    help: 'batch: most changes per vector call while delivery is behind (default max(batch size, 1000))',
  },
  {
    key: 'strategy.maxDelayMs',
    env: 'DUALWRITE_BATCH_MAX_DELAY_MS',
    flag: 'max-delay-ms',
    kind: 'integer',
    help: 'batch: longest wait for a batch to fill, ms (default 50)',
  },
  {
    key: 'strategy.concurrency',
    env: 'DUALWRITE_CONCURRENCY',
    flag: 'concurrency',
    kind: 'integer',
    help: 'deliveries (async-queue) or batches (batch) in flight (default 2)',
  },
  {
    key: 'strategy.syncTimeoutMs',
    env: 'DUALWRITE_SYNC_TIMEOUT_MS',
    flag: 'sync-timeout-ms',
    kind: 'integer',
    help: 'sync-2pc: longest wait for a write to reach the index, ms (default 10000)',
  },
  {
    key: 'strategy.maxAttempts',
    env: 'DUALWRITE_MAX_ATTEMPTS',
    flag: 'max-attempts',
    kind: 'integer',
    help: 'charged attempts before dead letter (default 8)',
  },
  {
    key: 'strategy.leaseMs',
    env: 'DUALWRITE_LEASE_MS',
    flag: 'lease-ms',
    kind: 'integer',
    help: 'lease per claimed change, ms (default 10000)',
  },
  {
    key: 'strategy.pollIntervalMs',
    env: 'DUALWRITE_POLL_INTERVAL_MS',
    flag: 'poll-interval-ms',
    kind: 'integer',
    help: 'idle poll interval, ms (default 200 on SQLite and MySQL, 5000 on PostgreSQL, which NOTIFY wakes sooner)',
  },
];

/**
 * Parses one environment variable or flag value. Values that do not parse are returned unchanged (as
 * strings) so that schema validation reports them with the variable's or flag's name.
 */
export function parseSettingValue(raw: string, kind: SettingKind): unknown {
  const value = raw.trim();
  if (kind === 'integer') return /^-?\d+$/.test(value) ? Number(value) : value;
  if (kind === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(value)) return true;
    if (/^(0|false|no|off)$/i.test(value)) return false;
    return value;
  }
  return value;
}
