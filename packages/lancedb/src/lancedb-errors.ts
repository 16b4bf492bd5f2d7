import {
  BackendUnavailableError,
  ClosedError,
  DimensionMismatchError,
  DualwriteError,
  PermanentBackendError,
  TransientBackendError,
  ValidationError,
} from '@dualwrite/core';

/** Component name carried by every error this adapter throws. */
export const LANCEDB_COMPONENT = 'lancedb';

/**
 * Storage-level failures: the database directory (or a file in it) is gone, unreadable, read-only, full,
 * or not a directory. LanceDB reports them as Rust I/O errors, e.g.
 * `lance error: Not found: /db/t.lance/_versions` after the directory was removed.
 */
const UNAVAILABLE = [
  /\bnot found: \S*\.lance\b/i,
  /\bdataset at path .* was not found/i,
  /no such file or directory/i,
  /\bos error (2|13|20|28|30)\)/i,
  /permission denied/i,
  /read-only file system/i,
  /not a directory/i,
  /no space left on device/i,
  // The table was replaced under this handle by one of another layout (another dimension, another tool's
  // schema): no record of this store can land until the index check rebinds or stops delivery.
  /append with different schema/i,
];

/** Failures that may succeed when retried: commit conflicts with another writer, timeouts, fd exhaustion. */
const TRANSIENT = [
  /commit conflict/i,
  /retryable/i,
  /timed? ?out/i,
  /deadline/i,
  /too many open files/i,
  /resource temporarily unavailable/i,
  /\bos error (11|24)\)/i,
  // A panic in LanceDB's native code, e.g. its conflict resolver reading a version manifest a concurrent
  // optimize of another process had just cleaned up (`retainVersionsMs` near 0): the same call on a reloaded
  // table succeeds, and a permanent error here dead-lettered healthy records (a break-it round, 3 of 3 runs).
  /panic in async function/i,
];

/** LanceDB says the table or connection handle itself was closed. */
const HANDLE_CLOSED = /(table .* is closed|connection is closed)/i;

/**
 * First meaningful line of a LanceDB error message: drops the `Caused by:` chain and the Rust source
 * locations (`/usr/local/cargo/registry/...rs:646:26`) that LanceDB appends.
 */
export function shortLanceDbMessage(error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  const first = raw.split(/\s+Caused by:/)[0] ?? raw;
  return first
    .replace(/,?\s*\/\S+\.rs:\d+:\d+/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 500);
}

/**
 * Maps anything thrown while talking to LanceDB to a typed dualwrite error with `component: 'lancedb'`
 * and the original error as `cause`:
 *
 * - dualwrite errors pass through unchanged; core `ValidationError`s (raised by the shared validators with
 *   `component: 'core'`) are re-labelled `component: 'lancedb'` with the same field and limit;
 * - missing / unreadable / read-only / full storage → {@link BackendUnavailableError} (retryable; draining
 *   pauses without charging attempts);
 * - commit conflicts, timeouts, fd exhaustion → {@link TransientBackendError};
 * - a closed LanceDB handle → {@link ClosedError};
 * - anything else (schema errors, invalid input LanceDB rejected) → {@link PermanentBackendError}, per the
 *   VectorStore contract ("other rejections").
 *
 * Best effort: LanceDB exposes no error codes to JavaScript, only messages, so the classification matches
 * message patterns (checked against LanceDB 0.31 / Lance 8).
 *
 * @param operation - what was being done, e.g. `'upsert'`, used in the message.
 */
export function toLanceDbError(error: unknown, operation: string): DualwriteError {
  if (error instanceof DualwriteError) return relabel(error);
  const options = { component: LANCEDB_COMPONENT, cause: error };
  const message = shortLanceDbMessage(error);
  const text = `${operation} failed: ${message}`;
  if (HANDLE_CLOSED.test(message)) return new ClosedError('lancedb vector store', options);
  if (UNAVAILABLE.some((re) => re.test(message))) return new BackendUnavailableError(text, options);
  if (TRANSIENT.some((re) => re.test(message))) return new TransientBackendError(text, options);
  return new PermanentBackendError(text, options);
}

/** Re-issues a core validation error under `component: 'lancedb'`; other errors are returned as is. */
function relabel(error: DualwriteError): DualwriteError {
  if (error.component === LANCEDB_COMPONENT) return error;
  if (error instanceof DimensionMismatchError)
    return new DimensionMismatchError(error.field, error.expected, error.actual, {
      component: LANCEDB_COMPONENT,
      cause: error,
    });
  if (error instanceof ValidationError) {
    // The constructor formats `[dualwrite] [<component>] invalid <field>: <reason>[ (limit: <limit>)]`.
    const prefix = `[dualwrite] [${error.component}] invalid ${error.field}: `;
    const suffix = error.limit ? ` (limit: ${error.limit})` : '';
    let reason = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    if (suffix && reason.endsWith(suffix)) reason = reason.slice(0, -suffix.length);
    return new ValidationError(error.field, reason, {
      component: LANCEDB_COMPONENT,
      cause: error,
      ...(error.limit === undefined ? {} : { limit: error.limit }),
    });
  }
  return error;
}
