/**
 * MySQL / MariaDB `RelationalStore` for dualwrite: a dialect of `@dualwrite/sql` over Kysely and mysql2 —
 * READ COMMITTED transactions with per-record lock slots, `FOR UPDATE SKIP LOCKED` claims by any number of
 * worker processes, binary (exact) ids, Kysely-managed migrations.
 * @packageDocumentation
 */
export {
  MYSQL_COMPONENT,
  mapMysqlError,
  TRANSIENT_MYSQL_CODES,
  UNAVAILABLE_MYSQL_CODES,
} from './mysql-errors.js';
export { LOCK_SLOTS, MYSQL_SCHEMA_VERSION, migrateMysqlSchema, mysqlMigrations } from './mysql-migrations.js';
export { ANSWER_MARGIN_MS, MYSQL_MAX_PAGE, MysqlRelationalStore } from './mysql-relational-store.js';
export {
  MYSQL_STORE_DEFAULTS,
  type MysqlKysely,
  type MysqlRelationalStoreOptions,
  type MysqlTableNames,
  mysqlTableNames,
  type ResolvedMysqlRelationalStoreOptions,
  resolveMysqlOptions,
} from './mysql-relational-store-options.js';
