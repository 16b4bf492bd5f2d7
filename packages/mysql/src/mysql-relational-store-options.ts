import type { OptionKeys } from '@dualwrite/core';
import { OptionChecks, type SqlTableNames, sqlTableNames } from '@dualwrite/sql';
import type { Kysely } from 'kysely';
import type { PoolOptions } from 'mysql2';
import { MYSQL_COMPONENT } from './mysql-errors.js';

/**
 * The Kysely type the store exposes as `RelationalTx.native` and `MysqlRelationalStore.kysely`. Schema-less:
 * the store's table names carry a runtime prefix and the application's tables are unknown here.
 */
// biome-ignore lint/suspicious/noExplicitAny: schema-less by design (runtime prefix, app-owned tables)
export type MysqlKysely = Kysely<any>;

/** Options of {@link MysqlRelationalStore}. Give `connectionString`, or `pool`, or both. */
export interface MysqlRelationalStoreOptions {
  /** URL naming the database, e.g. `mysql://app:secret@db.internal:3306/app`. */
  connectionString?: string;
  /**
   * mysql2 `PoolOptions` (host, user, TLS, …). The store creates its own pool from it and ends that pool in
   * `close()`; `connectionLimit`, `connectTimeout` and `typeCast` are the store's.
   */
  pool?: PoolOptions;
  /**
   * Prefix of every table the store creates, so it can share a database with the application's tables.
   * Letters, digits and `_`, not starting with a digit, at most 40 characters. Default `'dw_'`.
   */
  tablePrefix?: string;
  /** Most connections the pool opens (mysql2 `connectionLimit`). Integer 1..1,000. Default 10. */
  poolSize?: number;
  /**
   * Longest wait for a row lock (a per-record lock slot, an outbox row) or a metadata lock (a table held by
   * `FLUSH TABLES WITH READ LOCK` or an `ALTER TABLE`) before the statement fails with `ER_LOCK_WAIT_TIMEOUT`,
   * surfaced as `TransientBackendError`, in ms; set per connection as `innodb_lock_wait_timeout` and
   * `lock_wait_timeout`, which count whole seconds (rounded up, at least 1). Default 10,000.
   */
  lockTimeoutMs?: number;
  /** Longest wait for a new connection, in ms (mysql2 `connectTimeout`). Integer 1..2^31 - 1. Default 10,000. */
  connectTimeoutMs?: number;
}

/** Defaults of {@link MysqlRelationalStoreOptions}. */
export const MYSQL_STORE_DEFAULTS: Readonly<{
  tablePrefix: string;
  poolSize: number;
  lockTimeoutMs: number;
  connectTimeoutMs: number;
}> = Object.freeze({ tablePrefix: 'dw_', poolSize: 10, lockTimeoutMs: 10_000, connectTimeoutMs: 10_000 });

/** Names of the tables the store owns, with the prefix applied. */
export interface MysqlTableNames extends SqlTableNames {
  /** `AUTO_INCREMENT` rows behind `nextVersion()` (MySQL has no sequences). */
  readonly versionSequence: string;
  /** The per-record lock slots (`slot INT` 0..65,535), locked `FOR UPDATE` by writers. */
  readonly lockSlots: string;
}

/** The table names for `prefix`. */
export function mysqlTableNames(prefix: string): MysqlTableNames {
  return Object.freeze({
    ...sqlTableNames(prefix),
    versionSequence: `${prefix}version_seq`,
    lockSlots: `${prefix}lock_slots`,
  });
}

/** {@link MysqlRelationalStoreOptions} after validation, defaults applied. */
export interface ResolvedMysqlRelationalStoreOptions {
  /** The pool options the store opens (without `typeCast`, which the store adds). */
  poolOptions: PoolOptions;
  tablePrefix: string;
  poolSize: number;
  lockTimeoutMs: number;
}

/** The keys of {@link MysqlRelationalStoreOptions}. */
const MYSQL_OPTION_KEYS: OptionKeys<MysqlRelationalStoreOptions> = {
  connectionString: true,
  pool: true,
  tablePrefix: true,
  poolSize: true,
  lockTimeoutMs: true,
  connectTimeoutMs: true,
};

/**
 * Validates options and applies {@link MYSQL_STORE_DEFAULTS}.
 * @throws {ValidationError} (component `'mysql'`) when neither `connectionString` nor `pool` is given (or the
 *   string is empty or not a `mysql://` URL), no database is named, a charset other than utf8mb4 is asked for, `tablePrefix` is not identifier-safe, `poolSize` is not an integer in 1..1,000, or a
 *   timeout is not a positive integer.
 */
export function resolveMysqlOptions(
  options: MysqlRelationalStoreOptions,
): ResolvedMysqlRelationalStoreOptions {
  const check = new OptionChecks(MYSQL_COMPONENT);
  const { connectionString, pool } = check.server(check.object(options, MYSQL_OPTION_KEYS));
  if (pool !== undefined && Array.isArray(pool))
    throw check.missing('pool', "must be mysql2's PoolOptions object");
  // The database and charset a URL names (`connectionString`, or mysql2's own `pool.uri`).
  const fromUrl = (field: string, text: string) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw check.missing(field, 'must be a URL such as mysql://user:pass@host:3306/database');
    }
    if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:')
      throw check.missing(field, `must use mysql:// (or mariadb://), got ${url.protocol}//`);
    let database: string;
    try {
      database = decodeURIComponent(url.pathname.replace(/^\//, ''));
    } catch {
      throw check.missing(field, `has a malformed database name ${JSON.stringify(url.pathname)}`);
    }
    return { field, database: database || undefined, charset: url.searchParams.get('charset') };
  };
  const urls = [
    ...(connectionString === undefined ? [] : [fromUrl('connectionString', connectionString)]),
    ...(typeof pool?.uri === 'string' ? [fromUrl('pool.uri', pool.uri)] : []),
  ];
  if (!pool?.database && !urls.some((u) => u.database !== undefined))
    throw check.missing(
      'connectionString',
      'must name the database (mysql://host:3306/<database>), or pass pool.database',
    );
  // Ids are compared byte for byte as UTF-8: another connection charset would store 4-byte characters as
  // CESU-8 (utf8/utf8mb3: written, never found again) or replace them (latin1: distinct ids merge).
  for (const [field, charset] of [
    ['pool.charset', pool?.charset] as const,
    ...urls.map((u) => [u.field, u.charset] as const),
  ])
    if (typeof charset === 'string' && !charset.toLowerCase().startsWith('utf8mb4'))
      throw check.missing(
        field,
        `must be a utf8mb4 charset (ids and text are stored as UTF-8), got ${JSON.stringify(charset)}`,
      );
  // mysql2 takes the charset as a collation number too, which would bypass the check above.
  if (pool !== undefined && (pool as { charsetNumber?: unknown }).charsetNumber !== undefined)
    throw check.missing(
      'pool.charsetNumber',
      'is not supported: the store talks utf8mb4 (give pool.charset a utf8mb4 collation name instead)',
    );
  const poolSize = check.integer('poolSize', options.poolSize ?? MYSQL_STORE_DEFAULTS.poolSize, 1, 1_000);
  const lockTimeoutMs = check.integer(
    'lockTimeoutMs',
    options.lockTimeoutMs ?? MYSQL_STORE_DEFAULTS.lockTimeoutMs,
    1,
    0x7fffffff,
  );
  const connectTimeout = check.integer(
    'connectTimeoutMs',
    options.connectTimeoutMs ?? MYSQL_STORE_DEFAULTS.connectTimeoutMs,
    1,
    0x7fffffff,
  );
  return {
    poolOptions: {
      ...pool,
      ...(connectionString === undefined ? {} : { uri: connectionString }),
      connectionLimit: poolSize,
      connectTimeout,
    },
    tablePrefix: check.identifier(
      'tablePrefix',
      options.tablePrefix ?? MYSQL_STORE_DEFAULTS.tablePrefix,
      40,
      true,
    ),
    poolSize,
    lockTimeoutMs,
  };
}
