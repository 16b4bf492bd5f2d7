/**
 * PostgreSQL {@link RelationalStore} for dualwrite: Kysely over node-postgres, READ COMMITTED transactions with
 * per-record advisory locks, a transactional outbox claimed with `FOR UPDATE SKIP LOCKED` by any number of
 * worker processes, `LISTEN/NOTIFY` wake-ups, and Kysely-managed schema migrations.
 * @packageDocumentation
 */

export { TRY_LOCK_WINDOW_MS, UNAVAILABLE_NETWORK_CODES } from '@dualwrite/sql';
export {
  AUTOVACUUM_OFF_WARNING,
  type AutovacuumState,
  autovacuumState,
} from './postgres-autovacuum-check.js';
export {
  mapPostgresError,
  POSTGRES_COMPONENT,
  postgresErrorCode,
  TRANSIENT_POSTGRES_CODES,
  UNAVAILABLE_POSTGRES_CODES,
} from './postgres-errors.js';
export {
  migratePostgresSchema,
  migrationLockKey,
  POSTGRES_SCHEMA_VERSION,
  postgresMigrations,
} from './postgres-migrations.js';
export { LISTENER_HEARTBEAT, LISTENER_RECONNECT, type ListenerHealth } from './postgres-outbox-listener.js';
export { POSTGRES_MAX_PAGE, PostgresRelationalStore } from './postgres-relational-store.js';
export {
  POSTGRES_STORE_DEFAULTS,
  type PostgresKysely,
  type PostgresRelationalStoreOptions,
  type PostgresTableNames,
  postgresTableNames,
  type ResolvedPostgresRelationalStoreOptions,
  resolvePostgresOptions,
} from './postgres-relational-store-options.js';
