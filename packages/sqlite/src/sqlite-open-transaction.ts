import { transactionEnded } from '@dualwrite/sql';
import type Database from 'better-sqlite3';
import { SQLITE_COMPONENT } from './sqlite-errors.js';

/**
 * The savepoint `transaction()` sets right after `BEGIN IMMEDIATE`. A `COMMIT` or `ROLLBACK` run on `uow.db`
 * ends the transaction, and every savepoint with it (SQLite reference, "SAVEPOINT"): the statements after it
 * run in autocommit, one by one, and a `BEGIN` after it opens a transaction without the mark. Set first, it
 * outlives the application's own savepoints.
 */
const OPEN_MARK = 'dw_transaction_open';

/** Sets the mark on `raw`, a connection that has just begun a transaction. */
export function markTransactionOpen(raw: Database.Database): void {
  raw.exec(`SAVEPOINT ${OPEN_MARK}`);
}

/**
 * Checks that the transaction `transaction()` began is still open: before each record the callback writes
 * (`'probe'`: a transaction is open; no statement, better-sqlite3 reads the connection's autocommit flag), and
 * before COMMIT (`'mark'`: it is the one the mark was set in — also after the application began another one).
 * @throws {ValidationError} naming `uow.db` when a statement on it ended the transaction: what ran before it is
 *   committed (records with their outbox entries, so the index still follows SQL) or rolled back, nothing of
 *   the record about to be written is, and the call cannot be atomic any more.
 */
export function assertTransactionOpen(raw: Database.Database, check: 'probe' | 'mark'): void {
  if (check === 'probe') {
    if (raw.inTransaction) return;
    throw transactionEnded(SQLITE_COMPONENT, 'COMMIT, ROLLBACK, END');
  }
  try {
    raw.exec(`RELEASE ${OPEN_MARK}`);
  } catch (error) {
    if (!/no such savepoint/i.test((error as Error).message)) throw error;
    throw transactionEnded(SQLITE_COMPONENT, 'COMMIT, ROLLBACK, END');
  }
}
