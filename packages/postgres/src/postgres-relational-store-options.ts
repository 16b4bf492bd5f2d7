import { createHash } from 'node:crypto';
import { type OptionKeys, refuseUnknownKeys, ValidationError } from '@dualwrite/core';
import { OptionChecks, type SqlTableNames, sqlTableNames } from '@dualwrite/sql';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { POSTGRES_COMPONENT } from './postgres-errors.js';

/**
 * The Kysely type the store exposes as `RelationalTx.native` and `PostgresRelationalStore.kysely`.
 * Schema-less: the store's table names carry a runtime schema and prefix, and the application's tables are
 * unknown here; narrow it with `db.withTables<...>()` or a cast in application code.
 */
// biome-ignore lint/suspicious/noExplicitAny: schema-less by design (runtime schema/prefix, app-owned tables)
export type PostgresKysely = Kysely<any>;

/**
 * Options of {@link PostgresRelationalStore}. Give `connectionString`, or `pool` (a node-postgres pool
 * configuration, which may itself hold `connectionString` or `host`/`port`/`user`/...), or both (then
 * `connectionString` wins over `pool.connectionString`).
 */
export interface PostgresRelationalStoreOptions {
  /**
   * libpq-style URL, e.g. `postgres://user:pass@db.internal:5432/app?sslmode=require` (`postgresql://` and
   * node-postgres's `socket:/dir?db=app` too), or a Unix socket directory and database, `/var/run/postgresql app`.
   */
  connectionString?: string;
  /**
   * node-postgres `PoolConfig` (connection settings, TLS, `max`, `idleTimeoutMillis`, ...). The store creates
   * its own `pg.Pool` from it and ends that pool in `close()`. The dedicated `LISTEN` connection of
   * {@link PostgresRelationalStore.subscribeOutbox} is opened with the same settings.
   */
  pool?: pg.PoolConfig;
  /**
   * Schema holding the store's tables (created by `init()` if missing). Letters, digits and `_`, not starting
   * with a digit, at most 63 characters; case-sensitive (always quoted). Default `'public'`.
   */
  schema?: string;
  /**
   * Prefix of every table, index and sequence the store creates, so it can share a schema with the
   * application's tables. Letters, digits and `_`, not starting with a digit, at most 40 characters.
   * Default `'dw_'`.
   */
  tablePrefix?: string;
  /**
   * Most connections the pool opens (node-postgres `max`); overrides `pool.max`. Integer 1..1,000.
   * Default 10. `subscribeOutbox` uses one more, dedicated connection.
   */
  poolSize?: number;
  /**
   * Longest wait for a lock (a row lock, the per-record advisory lock of a writer, ...) before the statement
   * fails with SQLSTATE 55P03, surfaced as `TransientBackendError`, in ms (PostgreSQL `lock_timeout`, set for
   * each of the store's transactions and function calls, never for the session). `0` waits forever.
   * Overrides `pool.lock_timeout`. Default 10,000.
   */
  lockTimeoutMs?: number;
  /**
   * Longest wait for a connection (opening one, or a free one from a busy pool), in ms (node-postgres
   * `connectionTimeoutMillis`). `0` waits forever. Overrides `pool.connectionTimeoutMillis`. Default 10,000.
   */
  connectTimeoutMs?: number;
  /**
   * Whether transactions that enqueue outbox entries also issue `pg_notify(<channel>, '')`, so
   * {@link PostgresRelationalStore.subscribeOutbox} listeners in every process wake at once. Turn it off only
   * when every worker polls anyway and commit throughput matters more than latency (PostgreSQL serialises
   * the commits of notifying transactions). Default `true`.
   */
  notify?: boolean;
  /**
   * With `notify`: at most one of this store's writes per this many ms notifies inside its own transaction; the
   * writes of a window that did not are covered by one trailing `NOTIFY` after it (see `NotifyCoalescer`), so
   * listeners in other processes learn of every write at most this much later, and notifying commits — which
   * PostgreSQL serialises — stay few under load (8 writers: 2,612–2,831 writes/s with a `NOTIFY` in each,
   * 3,545–4,205 without). A process killed between a write and its trailing `NOTIFY` leaves that write to the
   * workers' poll. `0`: a `NOTIFY` in every transaction that enqueues. Integer 0..60,000. Default 5. Writes in
   * `transaction()` and sync-2pc's commits always notify in their own transaction.
   */
  notifyCoalesceMs?: number;
  /**
   * How often an idle {@link PostgresRelationalStore.subscribeOutbox} connection checks that it is alive
   * (`SELECT pg_notification_queue_usage()`, which also feeds `listenerHealth().notificationQueueUsage`; no
   * answer within 40 % of this → reconnect), ms. A server restart or a dropped network path can
   * leave a LISTEN connection dead without an error, and notifications would silently stop. Integer
   * 100..3,600,000. Default 5,000.
   */
  listenHeartbeatMs?: number;
}

/** Defaults of {@link PostgresRelationalStoreOptions}. */
export const POSTGRES_STORE_DEFAULTS: Readonly<{
  schema: string;
  tablePrefix: string;
  poolSize: number;
  lockTimeoutMs: number;
  connectTimeoutMs: number;
  notify: boolean;
  notifyCoalesceMs: number;
  applicationName: string;
  listenHeartbeatMs: number;
}> = Object.freeze({
  schema: 'public',
  tablePrefix: 'dw_',
  poolSize: 10,
  lockTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  notify: true,
  notifyCoalesceMs: 5,
  applicationName: 'dualwrite',
  listenHeartbeatMs: 5_000,
});

/**
 * Names of the objects (tables, indexes, sequence, notification channel) the store owns, with the prefix
 * applied. Table-like names are unqualified; they all live in {@link schema}.
 */
export interface PostgresTableNames extends SqlTableNames {
  /** The schema all objects live in. */
  readonly schema: string;
  /** The `SEQUENCE` behind `nextVersion()`. */
  readonly versionSequence: string;
  /**
   * `LISTEN`/`NOTIFY` channel of the outbox: `<schema>.<prefix>outbox` (stores in other schemas of the same
   * database do not wake each other), or `dw_outbox_<hash>` when that would exceed PostgreSQL's 63-byte
   * identifier limit.
   */
  readonly notifyChannel: string;
  /** The PL/pgSQL function behind `writeChanges` (one round trip per batch): `<prefix>write_changes`. */
  readonly writeFunction: string;
  /** The PL/pgSQL function behind `writeChanges` of one change (schema version 12): `<prefix>write_one`. */
  readonly writeOneFunction: string;
  /** The SQL function comparing two metadata objects key by key for {@link writeFunction}: `<prefix>metadata_equal`. */
  readonly metadataEqualFunction: string;
  /** The SQL function comparing two float32 embeddings (`-0` equal to `0`) for {@link writeFunction}: `<prefix>embedding_equal`. */
  readonly embeddingEqualFunction: string;
  /** sync-2pc's prepare in one statement (`RelationalStore.prepareIntents`): `<prefix>sync_prepare`. */
  readonly prepareFunction: string;
  /** sync-2pc's commit in one statement (`RelationalStore.commitIntents`): `<prefix>sync_commit`. */
  readonly commitFunction: string;
  /** The PL/pgSQL function behind `ackOutbox` (one round trip per batch of acks): `<prefix>ack_deliveries`. */
  readonly ackFunction: string;
  /** Index of the intents on `record_id` (schema version 5): `<prefix>intents_record`. */
  readonly intentsRecordIndex: string;
}

/** The object names for `schema` and `prefix`. */
export function postgresTableNames(schema: string, prefix: string): PostgresTableNames {
  const wanted = `${schema}.${prefix}outbox`;
  const notifyChannel =
    Buffer.byteLength(wanted) <= 63
      ? wanted
      : `dw_outbox_${createHash('sha256').update(wanted).digest('hex').slice(0, 16)}`;
  return Object.freeze({
    ...sqlTableNames(prefix),
    schema,
    versionSequence: `${prefix}version_seq`,
    notifyChannel,
    writeFunction: `${prefix}write_changes`,
    writeOneFunction: `${prefix}write_one`,
    metadataEqualFunction: `${prefix}metadata_equal`,
    embeddingEqualFunction: `${prefix}embedding_equal`,
    prepareFunction: `${prefix}sync_prepare`,
    commitFunction: `${prefix}sync_commit`,
    ackFunction: `${prefix}ack_deliveries`,
    intentsRecordIndex: `${prefix}intents_record`,
  });
}

/** {@link PostgresRelationalStoreOptions} after validation, defaults applied. */
export interface ResolvedPostgresRelationalStoreOptions {
  /** The pool configuration the store opens (connection settings, `max`, timeouts, `application_name`). */
  poolConfig: pg.PoolConfig;
  schema: string;
  tablePrefix: string;
  poolSize: number;
  lockTimeoutMs: number;
  connectTimeoutMs: number;
  notify: boolean;
  notifyCoalesceMs: number;
  listenHeartbeatMs: number;
}

const MAX_TIMEOUT = 0x7fffffff;

/** The keys of {@link PostgresRelationalStoreOptions}. */
const POSTGRES_OPTION_KEYS: OptionKeys<PostgresRelationalStoreOptions> = {
  connectionString: true,
  pool: true,
  schema: true,
  tablePrefix: true,
  poolSize: true,
  lockTimeoutMs: true,
  connectTimeoutMs: true,
  notify: true,
  notifyCoalesceMs: true,
  listenHeartbeatMs: true,
};

/**
 * Validates options and applies {@link POSTGRES_STORE_DEFAULTS}.
 * @throws {ValidationError} (component `'postgres'`) when neither `connectionString` nor `pool` is given (or
 *   the string is empty or not a `postgres://` URL or socket directory), `pool` holds a key node-postgres does
 *   not read (naming `options.pool.<key>`), `schema` or `tablePrefix` is not identifier-safe or too long, `schema`
 *   is reserved (`pg_…`, `information_schema`), `poolSize` (or `pool.max`) is not an integer in 1..1,000, a
 *   timeout is not an integer in 0..2^31 - 1, `notifyCoalesceMs` not one in 0..60,000, or `listenHeartbeatMs`
 *   not one in 100..3,600,000.
 */
export function resolvePostgresOptions(
  options: PostgresRelationalStoreOptions,
): ResolvedPostgresRelationalStoreOptions {
  const check = new OptionChecks(POSTGRES_COMPONENT);
  const { connectionString, pool } = check.server(check.object(options, POSTGRES_OPTION_KEYS));
  if (pool !== undefined) refuseUnknownKeys(pool, PG_POOL_CONFIG_KEYS, 'options.pool', POSTGRES_COMPONENT);
  // A limit broken by a `pool` key is reported under that key's name.
  const field = (option: string, poolKey: keyof pg.PoolConfig) =>
    (options as Record<string, unknown>)[option] === undefined && pool?.[poolKey] !== undefined
      ? `pool.${poolKey}`
      : option;
  if (connectionString !== undefined) checkConnectionString(check, 'connectionString', connectionString);
  if (typeof pool?.connectionString === 'string')
    checkConnectionString(check, 'pool.connectionString', pool.connectionString);
  const poolSize = check.integer(
    field('poolSize', 'max'),
    options.poolSize ?? pool?.max ?? POSTGRES_STORE_DEFAULTS.poolSize,
    1,
    1_000,
  );
  const lockTimeoutMs = check.integer(
    field('lockTimeoutMs', 'lock_timeout'),
    options.lockTimeoutMs ?? pool?.lock_timeout ?? POSTGRES_STORE_DEFAULTS.lockTimeoutMs,
    0,
    MAX_TIMEOUT,
  );
  const connectTimeoutMs = check.integer(
    field('connectTimeoutMs', 'connectionTimeoutMillis'),
    options.connectTimeoutMs ?? pool?.connectionTimeoutMillis ?? POSTGRES_STORE_DEFAULTS.connectTimeoutMs,
    0,
    MAX_TIMEOUT,
  );
  const poolConfig: pg.PoolConfig = {
    application_name: POSTGRES_STORE_DEFAULTS.applicationName,
    ...pool,
    ...(connectionString === undefined ? {} : { connectionString }),
    max: poolSize,
    connectionTimeoutMillis: connectTimeoutMs,
  };
  // Set per transaction instead (see `LockTimeoutDriver`): as a startup parameter it makes PgBouncer refuse
  // the connection ("unsupported startup parameter: lock_timeout").
  delete poolConfig.lock_timeout;
  return {
    poolConfig,
    schema: unreservedSchema(
      check.identifier('schema', options.schema ?? POSTGRES_STORE_DEFAULTS.schema, 63),
    ),
    tablePrefix: check.identifier(
      'tablePrefix',
      options.tablePrefix ?? POSTGRES_STORE_DEFAULTS.tablePrefix,
      40,
      true,
    ),
    poolSize,
    lockTimeoutMs,
    connectTimeoutMs,
    notify: check.boolean('notify', options.notify ?? POSTGRES_STORE_DEFAULTS.notify),
    notifyCoalesceMs: check.integer(
      'notifyCoalesceMs',
      options.notifyCoalesceMs ?? POSTGRES_STORE_DEFAULTS.notifyCoalesceMs,
      0,
      60_000,
    ),
    listenHeartbeatMs: check.integer(
      'listenHeartbeatMs',
      options.listenHeartbeatMs ?? POSTGRES_STORE_DEFAULTS.listenHeartbeatMs,
      100,
      3_600_000,
    ),
  };
}

/**
 * The keys node-postgres 8 reads from a pool's configuration (`pg.PoolConfig` and `ClientConfig` in its types,
 * and what `pg-pool`, `Client` and `ConnectionParameters` read at run time): any other key of `options.pool` is
 * a misspelling that node-postgres would ignore, its default silently used.
 */
const PG_POOL_CONFIG_KEYS: Readonly<Record<string, true>> = Object.fromEntries(
  [
    'Client',
    'Promise',
    'allowExitOnIdle',
    'application_name',
    'binary',
    'client_encoding',
    'connectionString',
    'connectionTimeoutMillis',
    'database',
    'enableChannelBinding',
    'fallback_application_name',
    'host',
    'idleTimeoutMillis',
    'idle_in_transaction_session_timeout',
    'keepAlive',
    'keepAliveInitialDelayMillis',
    'lock_timeout',
    'log',
    'max',
    'maxLifetimeSeconds',
    'maxUses',
    'min',
    'onConnect',
    'options',
    'password',
    'pipeline',
    'poolSize',
    'port',
    'query_timeout',
    'replication',
    'ssl',
    'sslnegotiation',
    'statement_timeout',
    'stream',
    'types',
    'user',
    'verify',
  ].map((key) => [key, true]),
);

/** The URL schemes node-postgres reads (`pg-connection-string`). */
const POSTGRES_URL_SCHEMES = ['postgres:', 'postgresql:', 'socket:'];

/**
 * Refuses a connection string node-postgres would misread: it resolves anything that is not an absolute URL
 * against `postgres://base` (so `hello world` connects to a host named "base"), and reads a `mysql://` URL
 * like a PostgreSQL one.
 * @throws {ValidationError} on `options.<field>` for a string that is neither a `postgres://` (`postgresql://`,
 *   `socket:`) URL nor a socket directory starting with `/`.
 */
function checkConnectionString(check: OptionChecks, field: string, text: string): void {
  if (text.startsWith('/')) return;
  let scheme: string;
  try {
    scheme = new URL(text).protocol;
  } catch {
    throw check.missing(
      field,
      'must be a URL such as postgres://user:pass@host:5432/database, or a socket directory starting with /',
    );
  }
  if (!POSTGRES_URL_SCHEMES.includes(scheme))
    throw check.missing(field, `must use postgres:// (or postgresql://, socket:), got ${scheme}//`);
}

/**
 * `schema`, unless PostgreSQL reserves it: names starting with `pg_` are the system's (`CREATE SCHEMA` fails
 * with 42939 "unacceptable schema name"), and `information_schema` is created by the server but left out by
 * `pg_dump` (found by a break-it round: a store there started, and a dump of its database held no record).
 * @throws {ValidationError} on `options.schema` for such a name.
 */
function unreservedSchema(schema: string): string {
  if (schema === 'information_schema')
    throw new ValidationError(
      'options.schema',
      'must not be "information_schema" (the SQL-standard catalog views: pg_dump leaves it out, so backups would miss every record)',
      { component: POSTGRES_COMPONENT, limit: 'a schema of your own' },
    );
  if (schema.startsWith('pg_'))
    throw new ValidationError(
      'options.schema',
      `must not start with "pg_" (reserved by PostgreSQL), got "${schema}"`,
      {
        component: POSTGRES_COMPONENT,
        limit: 'a name not starting with pg_',
      },
    );
  return schema;
}
