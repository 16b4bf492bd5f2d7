import {
  BackendUnavailableError,
  DualwriteError,
  PermanentBackendError,
  TransientBackendError,
  ValidationError,
} from '@dualwrite/core';

/**
 * How a dialect's driver reports failures, for {@link mapDriverError}: which codes mean "try again shortly"
 * and which mean "the database is unusable until it comes back or an operator acts".
 */
export interface DriverErrorTable {
  /** The `component` the mapped errors carry (`'sqlite'`, `'postgres'`, `'mysql'`). */
  readonly component: string;
  /** The driver's code of `error` (SQLSTATE, `SQLITE_BUSY`, `ER_LOCK_DEADLOCK`, `ECONNREFUSED`), if any. */
  codeOf(error: unknown): string | undefined;
  /** Codes of transient failures (deadlock, lock timeout, busy): → `TransientBackendError`. */
  readonly transient: readonly string[];
  /**
   * Codes of a transaction the server rolled back to break a deadlock or a serialization conflict (among
   * {@link transient}): nothing of it was written, and the store runs
   * its own writes that meet one again (`SqlRelationalStore.withRecordLocks`).
   */
  readonly deadlock?: readonly string[];
  /** Whether `code` means the database is unavailable (disk full, shut down, unreachable). */
  unavailable(code: string): boolean;
  /** Messages of code-less driver errors that mean the connection is gone or cannot be had. */
  readonly unavailableMessages: readonly string[];
  /** Codes of failures the same call meets every time (a statement too large for the server): → `PermanentBackendError`. */
  readonly permanent?: readonly string[];
  /**
   * Messages of code-less driver errors that every retry meets again (the server refuses TLS the configuration
   * demands): → `PermanentBackendError`.
   */
  readonly permanentMessages?: readonly string[];
  /**
   * Codes of a statement refused because an earlier one failed and the transaction is aborted (PostgreSQL
   * `25P02`): → {@link abortedTransaction}'s `ValidationError` on `uow.db`.
   */
  readonly aborted?: readonly string[];
  /**
   * How the driver says a table or routine does not exist (codes, or messages of a code shared with other
   * errors): a store statement meeting it ran before `init()` created the schema, or after it was dropped →
   * {@link missingSchema}'s `BackendUnavailableError`.
   */
  readonly missingObject?: { readonly codes?: readonly string[]; readonly messages?: readonly string[] };
  /**
   * How the driver says the connection a statement ran on is gone — killed (`pg_terminate_backend`, `KILL`), the
   * server restarted, an idle connection closed by a proxy or by the server's idle timeout — as opposed to one
   * that could not be had: a read that meets it runs again on another connection ({@link isLostConnection}).
   */
  readonly lostConnection?: { readonly codes: readonly string[]; readonly messages: readonly string[] };
}

/**
 * Whether `error`, or an error it wraps (`cause`, a few levels down), says the connection it ran on is gone
 * ({@link DriverErrorTable.lostConnection}).
 */
export function isLostConnection(table: DriverErrorTable, error: unknown): boolean {
  const lost = table.lostConnection;
  if (lost === undefined) return false;
  return someCause(error, (e) => {
    const code = table.codeOf(e);
    return (
      (code !== undefined && lost.codes.includes(code)) || lost.messages.some((m) => e.message.includes(m))
    );
  });
}

/**
 * Whether `error`, or an error it wraps (`cause`, up to four levels down: a dualwrite error's driver error),
 * passes `test`.
 */
export function someCause(error: unknown, test: (e: Error) => boolean): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++)
    if (test(e)) return true;
  return false;
}

/**
 * A statement of the store met a missing table or routine of its own: the store was used before `init()`
 * (which creates and migrates the schema; `createDualWrite` calls it), or its tables were dropped. The database is
 * unusable for the store until the schema is back, so → `BackendUnavailableError` (retryable: delivery pauses
 * without charging attempts), its message saying what to do.
 */
export function missingSchema(operation: string, message: string, component: string, cause: unknown) {
  return new BackendUnavailableError(
    `${operation} failed: a table or routine of the store does not exist (${message}); call init() before ` +
      'using the store (createDualWrite does), or restore its schema',
    { component, cause },
  );
}

/** Whether `error` (driver code `code`, `message`) is {@link DriverErrorTable.missingObject}. */
function isMissingObject(table: DriverErrorTable, code: string | undefined, message: string): boolean {
  const missing = table.missingObject;
  if (missing === undefined) return false;
  return (
    (code !== undefined && (missing.codes?.includes(code) ?? false)) ||
    (missing.messages?.some((m) => message.includes(m)) ?? false)
  );
}

/**
 * A transaction the database aborted because a statement in it failed — on PostgreSQL any failed statement does
 * (SQLSTATE 25P02), also one on `uow.db` whose error the callback caught — so its later statements are refused
 * and its COMMIT rolls back: nothing of it is written. Raised for those refused statements and for a COMMIT the
 * database answered with a rollback (Kysely's `AbortedTransactionError`).
 */
export function abortedTransaction(component: string, cause: unknown): ValidationError {
  return new ValidationError(
    'uow.db',
    'a statement in the transaction failed and the database aborted it (PostgreSQL: SQLSTATE 25P02, "current ' +
      'transaction is aborted"), so nothing of it is written; let that statement\'s error propagate (retry the ' +
      'whole transaction when it is retryable), or wrap the statement in a SAVEPOINT you roll back to',
    { component, cause, limit: 'no failed statement in a transaction that commits' },
  );
}

/** Node.js socket error codes that mean the server cannot be reached. */
export const UNAVAILABLE_NETWORK_CODES: readonly string[] = Object.freeze([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
]);

/**
 * The `code` property of `error` when it is a non-empty string, looking through an `AggregateError` (Node
 * reports a refused `localhost` connection, tried on IPv4 and IPv6, as one), or `undefined`.
 */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string' && code !== '') return code;
  if (error instanceof AggregateError)
    for (const inner of error.errors) {
      const innerCode = errorCode(inner);
      if (innerCode !== undefined) return innerCode;
    }
  return undefined;
}

/**
 * Thrown by a dialect's write that only tried its ids' locks (`RecordLocking` `'try'`) when another
 * transaction holds one, after rolling back: nothing was written, and the store runs it again later
 * (`SqlRelationalStore.withRecordLocks`). {@link mapDriverError} passes it through.
 */
export class RecordsBusy extends Error {
  constructor() {
    super('another transaction holds one of the ids');
    this.name = 'RecordsBusy';
  }
}

/**
 * Translates a driver (or Kysely) error into a dualwrite error by `table` (original as `cause`):
 * transient codes → {@link TransientBackendError}; unavailable codes, connection-loss messages and a missing
 * table or routine ({@link missingSchema}) → {@link BackendUnavailableError}. Anything else (constraint violations, SQL errors, errors that already are
 * dualwrite errors) is returned unchanged. Returns the error to throw; never throws itself.
 *
 * @param operation - what was being done, for the message (e.g. `'claimOutbox'`).
 */
export function mapDriverError(error: unknown, operation: string, table: DriverErrorTable): unknown {
  if (error instanceof DualwriteError || error instanceof RecordsBusy) return error;
  const code = table.codeOf(error);
  const message = error instanceof Error ? error.message || String(code ?? error) : String(error);
  const options = { cause: error, component: table.component };
  if (code !== undefined && table.aborted?.includes(code)) return abortedTransaction(table.component, error);
  if (isMissingObject(table, code, message)) return missingSchema(operation, message, table.component, error);
  if (code !== undefined && table.transient.includes(code))
    return new TransientBackendError(`${operation} failed, try again (${code}): ${message}`, options);
  if (code !== undefined && table.unavailable(code))
    return new BackendUnavailableError(
      `${operation} failed: database unavailable (${code}): ${message}`,
      options,
    );
  if (error instanceof Error && table.unavailableMessages.some((m) => message.includes(m)))
    return new BackendUnavailableError(`${operation} failed: database unavailable: ${message}`, options);
  if (code !== undefined && table.permanent?.includes(code))
    return new PermanentBackendError(`${operation} failed (${code}): ${message}`, options);
  if (error instanceof Error && table.permanentMessages?.some((m) => message.includes(m)))
    return new PermanentBackendError(`${operation} failed: ${message}`, options);
  return error;
}
