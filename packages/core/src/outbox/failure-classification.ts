import { asDualwriteError } from '../errors.js';

/**
 * How a delivery failure is handled:
 * - `outage`: the backend is down; release leases without charging attempts and pause draining.
 * - `throttled`: 429/503 or a `Retry-After`; back off the whole batch, charged, never split.
 * - `transient`: may succeed later; charged with backoff (a batch is split first to find a culprit).
 * - `permanent`: will never succeed; dead-letter at once (a batch is split first to isolate it).
 */
export type FailureClass = 'outage' | 'throttled' | 'transient' | 'permanent';

/**
 * Classifies an error thrown by a vector store or embedder, by its `code` (see `asDualwriteError`: errors of
 * a second installed copy of core count too). Unknown errors count as transient.
 */
export function classifyFailure(error: unknown): FailureClass {
  const known = asDualwriteError(error);
  if (known === undefined) return 'transient';
  if (known.code === 'BACKEND_UNAVAILABLE') return 'outage';
  if (known.code === 'TRANSIENT_BACKEND')
    return known.status === 429 || known.status === 503 || known.retryAfterMs !== undefined
      ? 'throttled'
      : 'transient';
  return known.retryable ? 'transient' : 'permanent';
}

/**
 * Whether the relational store's `error` is a fault of the store — it cannot be reached (`BACKEND_UNAVAILABLE`),
 * it asks to try again (`TRANSIENT_BACKEND`: a lock held past its timeout, a deadlock), it is closed — rather than
 * of the records it was working on. An error of any other kind (a trigger refusing one row, a row it cannot
 * read) may be one record's for good, and is charged to it like a delivery failure.
 */
export function isSourceFault(error: unknown): boolean {
  const code = asDualwriteError(error)?.code;
  return code === 'BACKEND_UNAVAILABLE' || code === 'TRANSIENT_BACKEND' || code === 'CLOSED';
}

/** `retryAfterMs` carried by the error, if any. */
export function retryAfterOf(error: unknown): number | undefined {
  const known = asDualwriteError(error);
  return known?.code === 'TRANSIENT_BACKEND' || known?.code === 'BACKEND_UNAVAILABLE'
    ? known.retryAfterMs
    : undefined;
}

/** A short single-line message for `lastError`. */
export function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}
