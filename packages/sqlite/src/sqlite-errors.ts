import { BackendUnavailableError, TransientBackendError } from '@dualwrite/core';

/** The `component` every error raised by this package carries. */
export const SQLITE_COMPONENT = 'sqlite';

/**
 * Primary SQLite result codes (the part of an extended code such as `SQLITE_BUSY_SNAPSHOT` before the
 * second underscore) that mean "try the same call again shortly": lock contention that outlasted
 * `busy_timeout`, or a WAL lock-protocol hiccup.
 */
export const TRANSIENT_SQLITE_CODES: readonly string[] = Object.freeze([
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_PROTOCOL',
]);

/**
 * Primary SQLite result codes that mean the database itself is unusable until an operator acts (disk full,
 * I/O error, file cannot be opened, read-only file system or permissions, not a database, corruption).
 * Strategies pause instead of charging outbox attempts for these.
 */
export const UNAVAILABLE_SQLITE_CODES: readonly string[] = Object.freeze([
  'SQLITE_FULL',
  'SQLITE_IOERR',
  'SQLITE_CANTOPEN',
  'SQLITE_READONLY',
  'SQLITE_PERM',
  'SQLITE_NOTADB',
  'SQLITE_CORRUPT',
]);

/** better-sqlite3 raises these as plain `TypeError`s rather than `SqliteError`s. */
const UNAVAILABLE_MESSAGES = [
  'Cannot open database because the directory does not exist',
  'The database connection is not open',
];

/**
 * The primary SQLite result code of `error` (`'SQLITE_BUSY'` for `SQLITE_BUSY_SNAPSHOT`), or `undefined`
 * when `error` does not carry a `SQLITE_*` `code` (better-sqlite3's `SqliteError` does).
 */
export function sqlitePrimaryCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return undefined;
  const second = code.indexOf('_', 'SQLITE_'.length);
  return second === -1 ? code : code.slice(0, second);
}

/**
 * Translates a better-sqlite3 error into a dualwrite error (component `'sqlite'`, original as `cause`):
 * - {@link TRANSIENT_SQLITE_CODES} (`SQLITE_BUSY*`, `SQLITE_LOCKED*`, `SQLITE_PROTOCOL`) →
 *   {@link TransientBackendError};
 * - {@link UNAVAILABLE_SQLITE_CODES} (`SQLITE_FULL`, `SQLITE_IOERR*`, `SQLITE_CANTOPEN*`,
 *   `SQLITE_READONLY*`, `SQLITE_PERM`, `SQLITE_NOTADB`, `SQLITE_CORRUPT*`) and better-sqlite3's
 *   "directory does not exist" / "connection is not open" `TypeError`s → {@link BackendUnavailableError}.
 *
 * Anything else (constraint violations, SQL errors, errors that already are dualwrite errors) is returned
 * unchanged. Returns the error to throw; never throws itself.
 *
 * @param operation - what was being done, for the message (e.g. `'claimOutbox'`).
 */
export function mapSqliteError(error: unknown, operation: string): unknown {
  const code = sqlitePrimaryCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const fullCode = (error as { code?: unknown } | null | undefined)?.code;
  if (code !== undefined && TRANSIENT_SQLITE_CODES.includes(code))
    return new TransientBackendError(
      `${operation} failed: database is locked (${String(fullCode)}): ${message}`,
      {
        cause: error,
        component: SQLITE_COMPONENT,
      },
    );
  if (code !== undefined && UNAVAILABLE_SQLITE_CODES.includes(code))
    return new BackendUnavailableError(`${operation} failed: ${message} (${String(fullCode)})`, {
      cause: error,
      component: SQLITE_COMPONENT,
    });
  if (error instanceof TypeError && UNAVAILABLE_MESSAGES.some((m) => message.includes(m)))
    return new BackendUnavailableError(`${operation} failed: ${message}`, {
      cause: error,
      component: SQLITE_COMPONENT,
    });
  return error;
}
