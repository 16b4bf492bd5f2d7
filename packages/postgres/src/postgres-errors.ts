import {
  type DriverErrorTable,
  errorCode,
  isLostConnection,
  mapDriverError,
  someCause,
  UNAVAILABLE_NETWORK_CODES,
} from '@dualwrite/sql';

/** The `component` every error raised by this package carries. */
export const POSTGRES_COMPONENT = 'postgres';

/** node-postgres' error when the pool's `query_timeout` expired: it stopped waiting for the answer. */
const QUERY_READ_TIMEOUT = 'Query read timeout';

/**
 * SQLSTATEs that mean "the same call may succeed if tried again shortly" (PostgreSQL docs, Appendix A
 * "PostgreSQL Error Codes"):
 * - `40001` serialization_failure, `40P01` deadlock_detected (the other transaction went through);
 * - `55P03` lock_not_available (`lock_timeout` expired, `NOWAIT`);
 * - `57014` query_canceled (`statement_timeout`, or a cancel request);
 * - `53300` too_many_connections, `53400` configuration_limit_exceeded.
 */
export const TRANSIENT_POSTGRES_CODES: readonly string[] = Object.freeze([
  '40001',
  '40P01',
  '55P03',
  '57014',
  '53300',
  '53400',
]);

/**
 * SQLSTATEs that mean the database cannot be used until it comes back or an operator acts. Strategies pause
 * instead of charging outbox attempts for these. Besides these exact codes, every code of class `08`
 * (connection exception) counts.
 * - `57P01` admin_shutdown, `57P02` crash_shutdown, `57P03` cannot_connect_now (starting up, in recovery),
 *   `57P04` database_dropped;
 * - `53100` disk_full, `53200` out_of_memory, `58030` io_error;
 * - `3D000` invalid_catalog_name (the database does not exist), `28000` / `28P01` authorization failures;
 * - `25006` read_only_sql_transaction (connected to a hot standby, e.g. right after a failover);
 * - `42501` insufficient_privilege (the role lost or never had a privilege on the store's objects: nothing
 *   works until an operator grants it, and no delivery may be charged for it).
 */
export const UNAVAILABLE_POSTGRES_CODES: readonly string[] = Object.freeze([
  '57P01',
  '57P02',
  '57P03',
  '57P04',
  '53100',
  '53200',
  '58030',
  '3D000',
  '28000',
  '28P01',
  '25006',
  '42501',
]);

/** This driver's codes for `mapDriverError`. @internal */
export const POSTGRES_ERRORS: DriverErrorTable = {
  component: POSTGRES_COMPONENT,
  codeOf: errorCode,
  transient: TRANSIENT_POSTGRES_CODES,
  // A serialization failure rolled the statement back too: a claim at a stricter default isolation meets it.
  deadlock: ['40P01', '40001'],
  unavailable: (code) =>
    code.startsWith('08') ||
    UNAVAILABLE_POSTGRES_CODES.includes(code) ||
    UNAVAILABLE_NETWORK_CODES.includes(code),
  // node-postgres raises these as plain `Error`s without a code when the connection is gone or cannot be had.
  unavailableMessages: [
    'Connection terminated',
    'connection timeout',
    'timeout exceeded when trying to connect',
    'Client has encountered a connection error and is not queryable',
    'Client was closed and is not queryable',
    'Cannot use a pool after calling end on the pool',
    'Postgres connection has been discarded',
    // `pool.query_timeout` expired: the server stopped answering on an open connection (frozen, partitioned).
    QUERY_READ_TIMEOUT,
    // The bytes from the server are not PostgreSQL's protocol: another server on that port (MySQL, say), or a
    // connection garbled on the way; a new connection is the retry.
    'Received unexpected',
    'received invalid response',
  ],
  // `sslmode=require` (or `ssl: true`) against a server without TLS.
  permanentMessages: ['The server does not support SSL connections'],
  // in_failed_sql_transaction: a statement failed earlier in the transaction (one the callback caught).
  aborted: ['25P02'],
  // undefined_table, undefined_function, invalid_schema_name: the store's tables, functions or schema (before
  // init(), or dropped).
  missingObject: { codes: ['42P01', '42883', '3F000'] },
  // The connection died under the statement: terminated (57P01 also on a fast shutdown, 57P02 a crash), a
  // connection exception, a reset socket, or node-postgres' own word for a client whose socket closed.
  lostConnection: {
    codes: ['57P01', '57P02', '08000', '08003', '08006', 'ECONNRESET', 'EPIPE'],
    messages: ['Connection terminated', 'Client has encountered a connection error and is not queryable'],
  },
};

/**
 * Whether a statement that failed with `error` (or a dualwrite error wrapping it) may still have run to its
 * commit with only its answer lost: the connection died under it ({@link POSTGRES_ERRORS}' `lostConnection`), or
 * the client stopped waiting (`query_timeout`). Any other failure is the server's own answer: nothing committed.
 */
export function answerMayBeLost(error: unknown): boolean {
  return (
    isLostConnection(POSTGRES_ERRORS, error) ||
    someCause(error, (e) => e.message.includes(QUERY_READ_TIMEOUT))
  );
}

/**
 * The SQLSTATE (`'40P01'`) or Node.js socket code (`'ECONNREFUSED'`) carried by `error` (node-postgres puts
 * both in `code`), looking through an `AggregateError`, or `undefined`.
 */
export const postgresErrorCode: (error: unknown) => string | undefined = errorCode;

/**
 * Translates a node-postgres (or Kysely) error into a dualwrite error (component `'postgres'`, original as
 * `cause`): {@link TRANSIENT_POSTGRES_CODES} (serialization failure, deadlock, lock timeout, statement
 * timeout, too many connections) → `TransientBackendError`; class `08` (connection exception),
 * {@link UNAVAILABLE_POSTGRES_CODES} (admin/crash shutdown, disk full, missing database, authentication,
 * read-only standby), `UNAVAILABLE_NETWORK_CODES` (refused, reset, DNS, timeouts) and node-postgres'
 * "Connection terminated" / "timeout exceeded when trying to connect" errors → `BackendUnavailableError`.
 * Anything else is returned unchanged; never throws.
 *
 * @param operation - what was being done, for the message (e.g. `'claimOutbox'`).
 */
export function mapPostgresError(error: unknown, operation: string): unknown {
  return mapDriverError(error, operation, POSTGRES_ERRORS);
}
