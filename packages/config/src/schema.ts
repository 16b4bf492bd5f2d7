import { DEFAULT_EMBEDDING_CACHE_TTL_MS } from '@dualwrite/core';
import Type, { type Static } from 'typebox';

/** Relational backends (sources of truth) a process can be pointed at by name. */
export const RELATIONAL_KINDS = ['sqlite', 'postgres', 'mysql'] as const;
/** Vector backends a process can be pointed at by name. */
export const VECTOR_KINDS = ['lancedb', 'chroma'] as const;
/** Write strategies (one config value selects one). */
export const STRATEGY_KINDS = ['sync-2pc', 'async-queue', 'batch'] as const;
/**
 * Embedders: `hashing` is offline and lexical; `openai` calls an OpenAI-compatible endpoint; `none` means
 * every write carries its own embedding (a process without an embedder refuses embedding-less writes).
 */
export const EMBEDDER_KINDS = ['hashing', 'openai', 'none'] as const;
/** What a start does about an index binding that is not this configuration's (`vector.indexBinding`). */
export const INDEX_BINDING_MODES = ['verify', 'rebind'] as const;
/** pino log levels. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const strict = { additionalProperties: false } as const;

/** An unquoted-style PostgreSQL identifier, as `PostgresRelationalStore` accepts for its schema. */
const PG_IDENTIFIER = '^[A-Za-z_][A-Za-z0-9_]*$';

/** `relational`: where the source of truth lives. */
export const RelationalSectionSchema = Type.Object(
  {
    kind: Type.Enum([...RELATIONAL_KINDS]),
    /** SQLite file. Default `<dataDir>/dualwrite.sqlite`. */
    sqlitePath: Type.Optional(Type.String({ minLength: 1 })),
    /** Server URL (`DATABASE_URL`): `postgres://…` for PostgreSQL, `mysql://…` for MySQL / MariaDB. */
    url: Type.Optional(Type.String({ minLength: 1 })),
    /** PostgreSQL schema of the store's tables (created if missing). Default `public`. */
    schema: Type.Optional(Type.String({ pattern: PG_IDENTIFIER, maxLength: 63 })),
    /** Prefix of the store's own tables. Default `dw_`. */
    tablePrefix: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,30}$' }),
    /** PostgreSQL / MySQL pool size (connections). Default 4. */
    poolSize: Type.Integer({ minimum: 1, maximum: 1_000 }),
  },
  strict,
);

/** `vector`: where the derived index lives. */
export const VectorSectionSchema = Type.Object(
  {
    kind: Type.Enum([...VECTOR_KINDS]),
    /** LanceDB directory. Default `<dataDir>/lancedb`. */
    lancedbDir: Type.Optional(Type.String({ minLength: 1 })),
    /** Chroma server URL (`CHROMA_URL`). Default `http://127.0.0.1:8000`. */
    chromaUrl: Type.String({ pattern: '^https?://' }),
    /** Table (LanceDB) or collection (Chroma) name. Default `dualwrite`. */
    collection: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' }),
    /**
     * When the source of truth is bound to another index or embedder, or the index is fed by another source of
     * truth: `verify` refuses to start (`IndexBindingError`, naming both sides); `rebind` moves the binding to
     * this index and repairs it from the source of truth (`createDualWrite`'s `indexBinding`). Default `verify`.
     */
    indexBinding: Type.Enum([...INDEX_BINDING_MODES]),
  },
  strict,
);

/** `embedder`: what turns text into vectors for writes that carry none (and for text queries). */
export const EmbedderSectionSchema = Type.Object(
  {
    kind: Type.Enum([...EMBEDDER_KINDS]),
    /** Vector dimension (must match an existing index). Default 384. */
    dimension: Type.Integer({ minimum: 1, maximum: 65_536 }),
    /** `openai`: base URL, e.g. `https://api.openai.com/v1` (`/embeddings` is appended). */
    baseUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
    /** `openai`: model name. */
    model: Type.Optional(Type.String({ minLength: 1 })),
    /** `openai`: API key, sent as `Authorization: Bearer`. */
    apiKey: Type.Optional(Type.String({ minLength: 1 })),
    /** `openai`: send `dimensions` in the request (OpenAI text-embedding-3 models). Default false. */
    requestDimensions: Type.Boolean(),
    /** `openai`: per-call timeout, ms. Default 30,000. */
    timeoutMs: Type.Integer({ minimum: 100, maximum: 600_000 }),
    /** `openai`: most texts per call. Default 64. */
    maxBatchSize: Type.Integer({ minimum: 1, maximum: 2_048 }),
    /**
     * How long an embedding cache entry lives after it was last stored or used for a write, ms; 0 keeps every
     * entry (`createDualWrite`'s `embeddingCacheTtlMs`). Default 7 days.
     */
    cacheTtlMs: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  },
  strict,
);

/** `strategy`: how writes reach the index, and the delivery knobs of whoever drains the outbox. */
export const StrategySectionSchema = Type.Object(
  {
    name: Type.Enum([...STRATEGY_KINDS]),
    /** `batch`: records per vector call while delivery keeps up (the batch it waits to fill). Default 256. */
    batchSize: Type.Integer({ minimum: 1, maximum: 10_000 }),
    /**
     * `batch`: most records per vector call while delivery is behind (calls grow from `batchSize` while claims
     * come back full). Default `max(batchSize, 1000)`; at least `batchSize`.
     */
    backlogBatchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    /** `batch`: longest wait to fill a batch, ms. Default 50. */
    maxDelayMs: Type.Integer({ minimum: 0, maximum: 60_000 }),
    /** Deliveries (async-queue) or batches (batch) in flight per process; sync-2pc: repair workers. Default 2. */
    concurrency: Type.Integer({ minimum: 1, maximum: 64 }),
    /** `sync-2pc`: longest wait for a write to reach the index, ms. Default 10,000. */
    syncTimeoutMs: Type.Integer({ minimum: 100, maximum: 300_000 }),
    /** Charged delivery attempts before an entry goes to dead letter. Default 8. */
    maxAttempts: Type.Integer({ minimum: 1, maximum: 1_000 }),
    /** Lease on each claimed outbox entry, ms. Default 30,000. */
    leaseMs: Type.Integer({ minimum: 100, maximum: 3_600_000 }),
    /**
     * How often an idle drainer polls, ms. Default 200 on SQLite, 5,000 on PostgreSQL (LISTEN/NOTIFY wakes
     * it sooner).
     */
    pollIntervalMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000 })),
  },
  strict,
);

/**
 * The sections every dualwrite process shares: where the source of truth and the index live, the embedder,
 * and the strategy. The demo API and the worker add their own sections next to these.
 */
export const BackendSections = {
  /** Default home of the SQLite file and the LanceDB directory. Default `./data`. */
  dataDir: Type.String({ minLength: 1 }),
  relational: RelationalSectionSchema,
  vector: VectorSectionSchema,
  embedder: EmbedderSectionSchema,
  strategy: StrategySectionSchema,
} as const;

/** {@link BackendSections} as one schema. */
export const BackendConfigSchema = Type.Object(BackendSections, strict);

/** The shared sections, validated (paths not yet resolved). */
export type BackendConfig = Static<typeof BackendConfigSchema>;
export type RelationalSection = Static<typeof RelationalSectionSchema>;
export type VectorSection = Static<typeof VectorSectionSchema>;
export type EmbedderSection = Static<typeof EmbedderSectionSchema>;
export type StrategySection = Static<typeof StrategySectionSchema>;

/** Defaults: no server needed (SQLite file + LanceDB directory under `./data`, hashing embedder, batch). */
export const DEFAULT_BACKEND_CONFIG: BackendConfig = {
  dataDir: './data',
  relational: { kind: 'sqlite', tablePrefix: 'dw_', poolSize: 4 },
  vector: {
    kind: 'lancedb',
    chromaUrl: 'http://127.0.0.1:8000',
    collection: 'dualwrite',
    indexBinding: 'verify',
  },
  embedder: {
    kind: 'hashing',
    dimension: 384,
    requestDimensions: false,
    timeoutMs: 30_000,
    maxBatchSize: 64,
    cacheTtlMs: DEFAULT_EMBEDDING_CACHE_TTL_MS,
  },
  strategy: {
    name: 'batch',
    batchSize: 256,
    maxDelayMs: 50,
    concurrency: 2,
    syncTimeoutMs: 10_000,
    maxAttempts: 8,
    leaseMs: 10_000,
  },
};

/** PostgreSQL schema used when `relational.schema` is not set. */
export const DEFAULT_PG_SCHEMA = 'public';
