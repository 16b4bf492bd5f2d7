import { type DriverErrorTable, errorCode, mapDriverError, UNAVAILABLE_NETWORK_CODES } from '@dualwrite/sql';

/** The `component` every error raised by this package carries. */
export const MYSQL_COMPONENT = 'mysql';

/**
 * mysql2 error codes that mean "the same call may succeed if tried again shortly" (MySQL 8.0 / MariaDB server
 * error reference): `ER_LOCK_DEADLOCK` (1213: InnoDB rolled this transaction back to break a deadlock),
 * `ER_LOCK_WAIT_TIMEOUT` (1205: `innodb_lock_wait_timeout`, also MariaDB's `NOWAIT`), `ER_LOCK_NOWAIT` (3572),
 * `ER_CON_COUNT_ERROR` (1040), `ER_TOO_MANY_USER_CONNECTIONS` (1203), and a statement stopped by the server:
 * `ER_QUERY_INTERRUPTED` (1317: `KILL QUERY`), `ER_QUERY_TIMEOUT` (3024: MySQL's `max_execution_time`) and
 * `ER_STATEMENT_TIMEOUT` (MariaDB's 1969, `max_statement_time`; mysql2 has no name for it, see
 * {@link mysqlErrorCode}).
 */
export const TRANSIENT_MYSQL_CODES: readonly string[] = Object.freeze([
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_NOWAIT',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_QUERY_INTERRUPTED',
  'ER_QUERY_TIMEOUT',
  'ER_STATEMENT_TIMEOUT',
]);

/** MariaDB error numbers mysql2 names nothing (its names are MySQL's), by the name MariaDB gives them. */
const MARIADB_ONLY_CODES: Readonly<Record<number, string>> = Object.freeze({ 1969: 'ER_STATEMENT_TIMEOUT' });

/** The driver's code of `error`, or MariaDB's name for an error number mysql2 does not name. @internal */
export function mysqlErrorCode(error: unknown): string | undefined {
  return errorCode(error) ?? MARIADB_ONLY_CODES[(error as { errno?: number } | null)?.errno ?? -1];
}

/**
 * mysql2 error codes that mean the database cannot be used until it comes back or an operator acts: the
 * connection was lost or killed, the server is shutting down, the database is missing, access is denied, the
 * disk is full, or the server is read-only (`ER_OPTION_PREVENTS_STATEMENT`, e.g. a replica after a failover).
 * Socket codes (`ECONNREFUSED`, …) count too.
 */
export const UNAVAILABLE_MYSQL_CODES: readonly string[] = Object.freeze([
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_CLIENT_INTERACTION_TIMEOUT',
  'ER_BAD_DB_ERROR',
  'ER_ACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_DISK_FULL',
  'ER_OPTION_PREVENTS_STATEMENT',
]);

/** This driver's codes for `mapDriverError`. @internal */
export const MYSQL_ERRORS: DriverErrorTable = {
  component: MYSQL_COMPONENT,
  codeOf: mysqlErrorCode,
  transient: TRANSIENT_MYSQL_CODES,
  deadlock: ['ER_LOCK_DEADLOCK'],
  unavailable: (code) => UNAVAILABLE_MYSQL_CODES.includes(code) || UNAVAILABLE_NETWORK_CODES.includes(code),
  // mysql2 raises these without a code once a connection or the pool is closed.
  unavailableMessages: [
    "Can't add new command when connection is in closed state",
    'Pool is closed',
    'Connection lost',
  ],
  // 1153: a statement larger than `max_allowed_packet` (the store refuses such records before sending them;
  // this covers what still gets through, e.g. an application's own statement in `tx.native`).
  permanent: ['ER_NET_PACKET_TOO_LARGE'],
  // The store's tables (before init(), or dropped). Not ER_SP_DOES_NOT_EXIST: a missing savepoint has that
  // code too (a missing write procedure falls back to the batch path).
  missingObject: { codes: ['ER_NO_SUCH_TABLE'] },
  // The connection died under the statement: killed, the server shutting down, the server's idle timeout
  // (MySQL 8's 4031), a reset socket, or mysql2's own word for a connection it found closed.
  lostConnection: {
    codes: [
      'PROTOCOL_CONNECTION_LOST',
      'ER_CONNECTION_KILLED',
      'ER_SERVER_SHUTDOWN',
      'ER_CLIENT_INTERACTION_TIMEOUT',
      'ECONNRESET',
      'EPIPE',
    ],
    messages: ["Can't add new command when connection is in closed state", 'Connection lost'],
  },
};

/**
 * Translates a mysql2 (or Kysely) error into a dualwrite error (component `'mysql'`, original as `cause`):
 * {@link TRANSIENT_MYSQL_CODES} (deadlock, lock wait timeout, too many connections) → `TransientBackendError`;
 * {@link UNAVAILABLE_MYSQL_CODES} and socket codes → `BackendUnavailableError`. Anything else (duplicate
 * keys, SQL errors, errors that already are dualwrite errors) is returned unchanged; never throws.
 *
 * @param operation - what was being done, for the message (e.g. `'claimOutbox'`).
 */
export function mapMysqlError(error: unknown, operation: string): unknown {
  return mapDriverError(error, operation, MYSQL_ERRORS);
}
