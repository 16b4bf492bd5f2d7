/**
 * `@dualwrite/sql`: the relational store's SQL written once for every SQL dialect — the shared statements
 * ({@link SqlQueries}), the drivers' row codecs, and the outbox ledger's primitives over a SQL transaction
 * ({@link SqlLedgerTx}). `@dualwrite/sqlite` and `@dualwrite/postgres` are dialects of it: each adds its
 * transaction and locking, the version sequence, the claim statement, the coalescing enqueue and its fast
 * paths. See the root README's "Writing an adapter".
 *
 * @packageDocumentation
 */
export { SqlLedgerTx } from './sql-ledger-tx.js';
export {
  chunks,
  IN_CHUNK,
  type SqlDb,
  type SqlDialectTraits,
  SqlQueries,
  type SqlTables,
} from './sql-queries.js';
export { SQL_MAX_PAGE, SqlRelationalStore } from './sql-relational-store.js';
export {
  bool,
  embeddingBytes,
  type IntentRow,
  int,
  intOrNull,
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
export { SqlTx } from './sql-tx.js';
