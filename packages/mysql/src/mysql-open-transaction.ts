import { errorCode, transactionEnded } from '@dualwrite/sql';
import { sql } from 'kysely';
import { MYSQL_COMPONENT } from './mysql-errors.js';
import type { MysqlKysely } from './mysql-relational-store-options.js';

/**
 * The savepoint `transaction()` sets before the callback runs. MySQL and MariaDB end a transaction without
 * an error on any statement that commits implicitly — DDL (`CREATE`/`ALTER`/`DROP`/`TRUNCATE TABLE`, …),
 * `LOCK TABLES`, `START TRANSACTION` — and on an explicit `COMMIT` or `ROLLBACK`; the statements after it run
 * in autocommit, one by one. Every savepoint goes with its transaction, so a missing one tells that it ended
 * (MySQL 8.0 reference, "Statements That Cause an Implicit Commit"; `ER_SP_DOES_NOT_EXIST`, 1305). Set first,
 * it outlives the application's own savepoints (`ROLLBACK TO SAVEPOINT` drops only those set after its target).
 */
const OPEN_MARK = 'dw_transaction_open';

/**
 * Set and released at once: fails exactly when no transaction is open (outside one, each statement is its own
 * transaction and takes the savepoint with it). Leaves the transaction's other savepoints as they are. Sent as two
 * messages: MariaDB 10.11 answered the two in one message, interrupted between them by `KILL QUERY`, with nothing
 * more, leaving the driver waiting for ever on a transaction that held its locks (2 of 2 runs of a break-it
 * script: three `dw.transaction` loops under `KILL QUERY` of every statement for 8 s).
 */
const PROBE = 'dw_transaction_probe';

/** Sets the mark on `db`, a connection that has just begun a transaction. */
export async function markTransactionOpen(db: MysqlKysely): Promise<void> {
  await sql.raw(`SAVEPOINT ${OPEN_MARK}`).execute(db);
}

/**
 * Checks that the transaction `db` began is still open: before each record the callback writes (`'probe'`: a
 * transaction is open; two round trips), and before COMMIT (`'mark'`: it is the one the mark was set in —
 * also after the application began another one on `uow.db`).
 * @throws {ValidationError} naming `uow.db` when a statement on it ended the transaction: what ran before
 *   that statement is committed (records with their outbox entries, so the index still follows SQL), nothing
 *   of the record about to be written is, and a later throw can no longer roll anything back.
 */
export async function assertTransactionOpen(db: MysqlKysely, check: 'probe' | 'mark'): Promise<void> {
  try {
    if (check === 'probe') await sql.raw(`SAVEPOINT ${PROBE}`).execute(db);
    await sql.raw(`RELEASE SAVEPOINT ${check === 'probe' ? PROBE : OPEN_MARK}`).execute(db);
  } catch (error) {
    if (errorCode(error) !== 'ER_SP_DOES_NOT_EXIST') throw error;
    throw transactionEnded(
      MYSQL_COMPONENT,
      'MySQL and MariaDB commit implicitly before DDL — CREATE, ALTER, DROP, TRUNCATE, … — LOCK TABLES and ' +
        'START TRANSACTION, as on an explicit COMMIT or ROLLBACK; run such statements outside dw.transaction()',
    );
  }
}
