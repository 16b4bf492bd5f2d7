/**
 * `@dualwrite/sql`: the relational store's SQL written once for every SQL dialect — the shared statements
 * ({@link SqlQueries}), the drivers' row codecs, and the outbox ledger's primitives over a SQL transaction
 * ({@link SqlLedgerTx}). `@dualwrite/sqlite` and `@dualwrite/postgres` are dialects of it: each adds its
 * transaction and locking, the version sequence, the claim statement, the coalescing enqueue and its fast
 * paths. See the root README's "Writing an adapter".
 *
 * @packageDocumentation
 */

export {
  abortedTransaction,
  type DriverErrorTable,
  errorCode,
  isLostConnection,
  mapDriverError,
  RecordsBusy,
  someCause,
  UNAVAILABLE_NETWORK_CODES,
} from './sql-errors.js';
export { SqlLedgerTx } from './sql-ledger-tx.js';
export {
  embeddingCacheExpiryMigration,
  runMigrations,
  SCHEMA_REQUIRES_KEY,
  type SqlColumnTypes,
  type StoreMigration,
  type StoreMigrationOptions,
  storeMigrations,
} from './sql-migrations.js';
export { OptionChecks, SQL_IDENTIFIER } from './sql-options.js';
export {
  type ClaimLease,
  chunks,
  IN_CHUNK,
  type SqlDb,
  type SqlDialectTraits,
  SqlQueries,
  type SqlTables,
  sqlTables,
} from './sql-queries.js';
export {
  type RecordLocking,
  SQL_MAX_PAGE,
  SqlRelationalStore,
  statementChars,
  TRY_LOCK_WINDOW_MS,
} from './sql-relational-store.js';
export {
  bool,
  type ClaimedOutboxRow,
  embeddingBytes,
  type IntentRow,
  int,
  intOrNull,
  metadataJson,
  type OutboxRow,
  type RecordRow,
  type SqlBool,
  type SqlInt,
  toIntent,
  toLedgerRow,
  toOutboxEntry,
  toOutboxLease,
  toStoredRecord,
} from './sql-rows.js';
export { type SqlTableNames, sqlTableNames } from './sql-table-names.js';
export { SqlTx, type SqlTxHooks, transactionEnded } from './sql-tx.js';
