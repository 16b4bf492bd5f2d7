import Type, { type Static } from 'typebox';

/** Relational backends the service knows: `sqlite` (embedded file) or `postgres` (server). */
export const RELATIONAL_KINDS = ['sqlite', 'postgres'] as const;
/** Vector backends the service knows. */
export const VECTOR_KINDS = ['lancedb', 'chroma'] as const;
/** Write strategies (one config value selects one). */
export const STRATEGY_KINDS = ['sync-2pc', 'async-queue', 'batch'] as const;
/** Embedders: `hashing` is offline and lexical; `openai` calls an OpenAI-compatible endpoint. */
export const EMBEDDER_KINDS = ['hashing', 'openai'] as const;
/** Pino log levels. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const strict = { additionalProperties: false } as const;

/** An unquoted-style PostgreSQL identifier, as `PostgresRelationalStore` accepts for its schema. */
const PG_IDENTIFIER = '^[A-Za-z_][A-Za-z0-9_]*$';

/**
 * The whole service configuration as one JSON Schema (TypeBox). A config file must match it (unknown keys
 * are errors); environment variables override single keys (see `ENV_BINDINGS`). Paths are resolved
 * against the working directory.
 */
export const AppConfigSchema = Type.Object(
  {
    server: Type.Object(
      {
        /** Interface to bind. Default `127.0.0.1` (loopback only). */
        host: Type.String({ minLength: 1 }),
        /** TCP port; `0` picks a free one. Default 3000. */
        port: Type.Integer({ minimum: 0, maximum: 65_535 }),
        /** Largest request body, bytes; larger bodies get 413. Default 1 MiB. */
        bodyLimitBytes: Type.Integer({ minimum: 1_024, maximum: 104_857_600 }),
        /** When set, every API route needs `Authorization: Bearer <token>`. */
        authToken: Type.Optional(Type.String({ minLength: 8 })),
        logLevel: Type.Enum([...LOG_LEVELS]),
      },
      strict,
    ),
    /** Default home of the SQLite file and the LanceDB directory. Default `./data`. */
    dataDir: Type.String({ minLength: 1 }),
    relational: Type.Object(
      {
        kind: Type.Enum([...RELATIONAL_KINDS]),
        /** SQLite file. Default `<dataDir>/dualwrite.sqlite`. */
        sqlitePath: Type.Optional(Type.String({ minLength: 1 })),
        /** PostgreSQL connection URL (`DATABASE_URL`), `postgres://` or `postgresql://`. */
        url: Type.Optional(Type.String({ minLength: 1 })),
        /**
         * PostgreSQL schema holding the store's `dw_*` tables and the service's `summaries` table (created at
         * start if missing). Default `public`.
         */
        schema: Type.Optional(Type.String({ pattern: PG_IDENTIFIER, maxLength: 63 })),
      },
      strict,
    ),
    vector: Type.Object(
      {
        kind: Type.Enum([...VECTOR_KINDS]),
        /** LanceDB directory. Default `<dataDir>/lancedb`. */
        lancedbDir: Type.Optional(Type.String({ minLength: 1 })),
        /** Chroma server URL (`CHROMA_URL`). Default `http://127.0.0.1:8000`. */
        chromaUrl: Type.String({ pattern: '^https?://' }),
        /** Table (LanceDB) or collection (Chroma) name. Default `dualwrite` (the worker's and LanceDbVectorStore's default too). */
        collection: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' }),
      },
      strict,
    ),
    strategy: Type.Object(
      {
        name: Type.Enum([...STRATEGY_KINDS]),
        /** `batch`: most records per vector call. Default 256. */
        batchSize: Type.Integer({ minimum: 1, maximum: 10_000 }),
        /** `batch`: longest wait to fill a batch, ms. Default 50. */
        maxDelayMs: Type.Integer({ minimum: 0, maximum: 60_000 }),
        /** Background delivery workers (`sync-2pc`: repair workers). Default 2. */
        concurrency: Type.Integer({ minimum: 1, maximum: 64 }),
        /** `sync-2pc`: longest wait for a write to reach the index before the request gets 503, ms. */
        syncTimeoutMs: Type.Integer({ minimum: 100, maximum: 300_000 }),
        /** Charged delivery attempts before an entry goes to dead letter. Default 8. */
        maxAttempts: Type.Integer({ minimum: 1, maximum: 100 }),
      },
      strict,
    ),
    embedder: Type.Object(
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
      },
      strict,
    ),
    backpressure: Type.Object(
      {
        /** Outbox depth at which writes are held back; `0` disables backpressure. Default 10,000. */
        maxDepth: Type.Integer({ minimum: 0, maximum: 100_000_000 }),
        /** `fail`: 503 at once; `wait`: wait up to `waitTimeoutMs`, then 503. Default `fail`. */
        mode: Type.Enum(['fail', 'wait']),
        waitTimeoutMs: Type.Integer({ minimum: 0, maximum: 60_000 }),
      },
      strict,
    ),
    shutdown: Type.Object(
      {
        /** On SIGTERM/SIGINT: longest time spent draining the outbox, ms. Default 10,000. */
        drainTimeoutMs: Type.Integer({ minimum: 0, maximum: 600_000 }),
      },
      strict,
    ),
  },
  strict,
);

/** The validated configuration. */
export type AppConfig = Static<typeof AppConfigSchema>;

/** Defaults: no server needed (SQLite file + LanceDB directory under `./data`, hashing embedder). */
export const DEFAULT_CONFIG: AppConfig = {
  server: { host: '127.0.0.1', port: 3000, bodyLimitBytes: 1_048_576, logLevel: 'info' },
  dataDir: './data',
  relational: { kind: 'sqlite' },
  vector: { kind: 'lancedb', chromaUrl: 'http://127.0.0.1:8000', collection: 'dualwrite' },
  strategy: {
    name: 'batch',
    batchSize: 256,
    maxDelayMs: 50,
    concurrency: 2,
    syncTimeoutMs: 10_000,
    maxAttempts: 8,
  },
  embedder: {
    kind: 'hashing',
    dimension: 384,
    requestDimensions: false,
    timeoutMs: 30_000,
    maxBatchSize: 64,
  },
  backpressure: { maxDepth: 10_000, mode: 'fail', waitTimeoutMs: 5_000 },
  shutdown: { drainTimeoutMs: 10_000 },
};
