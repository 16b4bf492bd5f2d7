/**
 * SQLite {@link RelationalStore} for dualwrite: Kysely over better-sqlite3, WAL, `BEGIN IMMEDIATE`
 * transactions, a transactional outbox with leases, Kysely-managed schema migrations.
 * @packageDocumentation
 */
export {
  mapSqliteError,
  SQLITE_COMPONENT,
  sqlitePrimaryCode,
  TRANSIENT_SQLITE_CODES,
  UNAVAILABLE_SQLITE_CODES,
} from './sqlite-errors.js';
export {
  migrateSqliteSchema,
  SQLITE_SCHEMA_VERSION,
  sqliteMigrations,
} from './sqlite-migrations.js';
export { SQLITE_MAX_PAGE, SqliteRelationalStore } from './sqlite-relational-store.js';
export {
  type ResolvedSqliteRelationalStoreOptions,
  resolveSqliteOptions,
  SQLITE_STORE_DEFAULTS,
  type SqliteKysely,
  type SqliteRelationalStoreOptions,
  type SqliteTableNames,
  sqliteTableNames,
} from './sqlite-relational-store-options.js';
