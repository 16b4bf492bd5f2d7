import { type DriverErrorTable, mapDriverError } from '@dualwrite/sql';

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

/** This driver's codes for `mapDriverError`. @internal */
export const SQLITE_ERRORS: DriverErrorTable = {
  component: SQLITE_COMPONENT,
  codeOf: sqlitePrimaryCode,
  transient: TRANSIENT_SQLITE_CODES,
  unavailable: (code) => UNAVAILABLE_SQLITE_CODES.includes(code),
  // better-sqlite3 raises these as plain `TypeError`s rather than `SqliteError`s.
  unavailableMessages: [
    'Cannot open database because the directory does not exist',
    'The database connection is not open',
  ],
  // SQLITE_ERROR is also every SQL error: the message tells a missing table apart.
  missingObject: { messages: ['no such table'] },
};

/**
 * Translates a better-sqlite3 error into a dualwrite error (component `'sqlite'`, original as `cause`):
 * {@link TRANSIENT_SQLITE_CODES} (`SQLITE_BUSY*`, `SQLITE_LOCKED*`, `SQLITE_PROTOCOL`) →
 * `TransientBackendError`; {@link UNAVAILABLE_SQLITE_CODES} (`SQLITE_FULL`, `SQLITE_IOERR*`,
 * `SQLITE_CANTOPEN*`, `SQLITE_READONLY*`, `SQLITE_PERM`, `SQLITE_NOTADB`, `SQLITE_CORRUPT*`) and
 * better-sqlite3's "directory does not exist" / "connection is not open" `TypeError`s →
 * `BackendUnavailableError`. Anything else is returned unchanged; never throws.
 *
 * @param operation - what was being done, for the message (e.g. `'claimOutbox'`).
 */
export function mapSqliteError(error: unknown, operation: string): unknown {
  return mapDriverError(error, operation, SQLITE_ERRORS);
}
