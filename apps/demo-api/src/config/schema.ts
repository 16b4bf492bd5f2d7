import { BackendSections, DEFAULT_BACKEND_CONFIG, LOG_LEVELS, type Setting } from '@dualwrite/config';
import Type, { type Static } from 'typebox';

const strict = { additionalProperties: false } as const;

/**
 * The whole service configuration as one JSON Schema (TypeBox): the sections every dualwrite process shares
 * (`BackendSections` of `@dualwrite/config`: data dir, relational, vector, embedder, strategy) plus the
 * service's own. A config file must match it (unknown keys are errors); environment variables override
 * single keys (see {@link DEMO_API_SETTINGS}). Paths are resolved against the working directory.
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
    ...BackendSections,
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
        /**
         * On SIGTERM/SIGINT: longest wait for in-flight requests, ms; past it their connections are closed (a
         * search stuck on an embedder that never answers must not hold shutdown). Default 15,000: more than a
         * sync-2pc write waits for delivery (`strategy.syncTimeoutMs`, default 10,000).
         */
        requestGraceMs: Type.Integer({ minimum: 0, maximum: 600_000 }),
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
  ...DEFAULT_BACKEND_CONFIG,
  server: { host: '127.0.0.1', port: 3000, bodyLimitBytes: 1_048_576, logLevel: 'info' },
  backpressure: { maxDepth: 10_000, mode: 'fail', waitTimeoutMs: 5_000 },
  shutdown: { requestGraceMs: 15_000, drainTimeoutMs: 10_000 },
};

/** The service's own environment variables (the shared ones come from `BACKEND_SETTINGS`). */
export const DEMO_API_SETTINGS: readonly Setting[] = [
  { key: 'server.port', env: 'PORT', kind: 'integer', help: 'TCP port (default 3000)' },
  { key: 'server.host', env: 'HOST', kind: 'string', help: 'interface to bind (default 127.0.0.1)' },
  {
    key: 'server.bodyLimitBytes',
    env: 'DUALWRITE_BODY_LIMIT_BYTES',
    kind: 'integer',
    help: 'largest request body, bytes',
  },
  {
    key: 'server.authToken',
    env: 'DUALWRITE_AUTH_TOKEN',
    kind: 'string',
    help: 'bearer token every API route needs',
  },
  { key: 'server.logLevel', env: 'LOG_LEVEL', kind: 'string', help: 'pino log level' },
  {
    key: 'backpressure.maxDepth',
    env: 'DUALWRITE_BACKPRESSURE_MAX_DEPTH',
    kind: 'integer',
    help: 'outbox depth that holds writes back, 0 = off',
  },
  { key: 'backpressure.mode', env: 'DUALWRITE_BACKPRESSURE_MODE', kind: 'string', help: 'fail | wait' },
  {
    key: 'shutdown.requestGraceMs',
    env: 'DUALWRITE_REQUEST_GRACE_MS',
    kind: 'integer',
    help: 'wait for in-flight requests on SIGTERM, ms',
  },
  {
    key: 'shutdown.drainTimeoutMs',
    env: 'DUALWRITE_DRAIN_TIMEOUT_MS',
    kind: 'integer',
    help: 'drain time on SIGTERM, ms',
  },
];
