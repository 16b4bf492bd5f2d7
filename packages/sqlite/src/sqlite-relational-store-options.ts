import { type OptionKeys, ValidationError } from '@dualwrite/core';
import { OptionChecks, type SqlTableNames, sqlTableNames } from '@dualwrite/sql';
import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { SQLITE_COMPONENT } from './sqlite-errors.js';

/**
 * The Kysely type the store exposes as `RelationalTx.native` and `SqliteRelationalStore.kysely`.
 * Schema-less: the store's table names carry a runtime prefix and the application's tables are unknown
 * here; narrow it with `db.withTables<...>()` or a cast in application code.
 */
// biome-ignore lint/suspicious/noExplicitAny: schema-less by design (runtime table prefix, app-owned tables)
export type SqliteKysely = Kysely<any>;

/** Options of {@link SqliteRelationalStore}. Give either `path` or `database`. */
export interface SqliteRelationalStoreOptions {
  /**
   * Database file to open, or `':memory:'` for a private in-memory database. Required unless `database`
   * is given. A missing file (and its missing directories) is created unless `create` is `false`.
   */
  path?: string;
  /**
   * `false`: open only an existing file and fail with {@link BackendUnavailableError} naming `path`
   * otherwise (a drain worker pointed at the wrong path must not create an empty database and drain it
   * for ever). Default `true`.
   */
  create?: boolean;
  /**
   * An already open better-sqlite3 connection to use instead of opening `path`. The store sets its
   * PRAGMAs (WAL, `busy_timeout`, `synchronous = NORMAL`, `foreign_keys = ON`) on it, and does **not**
   * close it in `close()`: the caller owns it. Do not use it for other work while the store is open
   * (a store transaction would see, and commit or roll back, whatever else runs on the connection).
   */
  database?: BetterSqlite3.Database;
  /**
   * How long a statement waits for another connection's lock before failing with `SQLITE_BUSY`
   * (surfaced as `TransientBackendError`), in ms. Non-negative integer. Default 5,000.
   *
   * better-sqlite3 is synchronous: while SQLite waits for a lock, the Node event loop is blocked.
   */
  busyTimeoutMs?: number;
  /**
   * Prefix of every table and index the store creates, so it can share a database file with the
   * application's own tables. Letters, digits and `_`, not starting with a digit, at most 40 characters.
   * Default `'dw_'`.
   */
  tablePrefix?: string;
}

/** Defaults of {@link SqliteRelationalStoreOptions}. */
export const SQLITE_STORE_DEFAULTS: Readonly<{ busyTimeoutMs: number; tablePrefix: string }> = Object.freeze({
  busyTimeoutMs: 5_000,
  tablePrefix: 'dw_',
});

/** Names of the tables (and the outbox index) the store owns, with the prefix applied. */
export interface SqliteTableNames extends SqlTableNames {
  /** One row per named sequence; `'version'` feeds `nextVersion()`. */
  readonly sequence: string;
}

/** The table names for `prefix`. */
export function sqliteTableNames(prefix: string): SqliteTableNames {
  return Object.freeze({ ...sqlTableNames(prefix), sequence: `${prefix}sequence` });
}

/** {@link SqliteRelationalStoreOptions} after validation, defaults applied. */
export interface ResolvedSqliteRelationalStoreOptions {
  path: string | undefined;
  database: BetterSqlite3.Database | undefined;
  create: boolean;
  busyTimeoutMs: number;
  tablePrefix: string;
}

/** The keys of {@link SqliteRelationalStoreOptions}. */
const SQLITE_OPTION_KEYS: OptionKeys<SqliteRelationalStoreOptions> = {
  path: true,
  create: true,
  database: true,
  busyTimeoutMs: true,
  tablePrefix: true,
};

/**
 * Validates options and applies {@link SQLITE_STORE_DEFAULTS}.
 * @throws {ValidationError} (component `'sqlite'`) when neither `path` nor `database` is given (or
 *   `path` is empty or a URL such as `sqlite:./x.db` or `file:x.db`), `busyTimeoutMs` is not an integer in
 *   0..2^31 - 1, or `tablePrefix` is not identifier-safe (at most 40 characters) or starts with `sqlite_`
 *   (reserved by SQLite).
 */
export function resolveSqliteOptions(
  options: SqliteRelationalStoreOptions,
): ResolvedSqliteRelationalStoreOptions {
  const check = new OptionChecks(SQLITE_COMPONENT);
  const { path, database } = check.object(options, SQLITE_OPTION_KEYS);
  if (database === undefined && check.optionalString('path', path) === undefined)
    throw check.missing('path', 'is required (a file path or ":memory:") unless options.database is given');
  if (database !== undefined && path !== undefined)
    throw check.missing('path', 'must not be given together with options.database');
  // better-sqlite3 takes a file path, not a URL: "sqlite:./x.db" would create a directory named "sqlite:.".
  if (typeof path === 'string' && /^(sqlite3?|file):/i.test(path))
    throw new ValidationError('options.path', `must be a file path, not a URL: got ${JSON.stringify(path)}`, {
      component: SQLITE_COMPONENT,
      limit: `a file path (e.g. ${JSON.stringify(path.replace(/^[a-z0-9]+:(\/\/)?/i, ''))}) or ":memory:"`,
    });
  const tablePrefix = check.identifier(
    'tablePrefix',
    options.tablePrefix ?? SQLITE_STORE_DEFAULTS.tablePrefix,
    40,
    true,
  );
  // SQLite reserves every name starting with "sqlite_" for itself ("object name reserved for internal use").
  if (/^sqlite_/i.test(tablePrefix))
    throw new ValidationError('options.tablePrefix', `must not start with "sqlite_" (reserved by SQLite)`, {
      component: SQLITE_COMPONENT,
      limit: 'not starting with "sqlite_"',
    });
  return {
    path,
    database,
    create: check.boolean('create', options.create ?? true),
    busyTimeoutMs: check.integer(
      'busyTimeoutMs',
      options.busyTimeoutMs ?? SQLITE_STORE_DEFAULTS.busyTimeoutMs,
      0,
      0x7fffffff,
    ),
    tablePrefix,
  };
}
