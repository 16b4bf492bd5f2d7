import { BackendUnavailableError, DualwriteError, TransientBackendError } from '../errors.js';

/**
 * How a delivery failure is handled:
 * - `outage`: the backend is down; release leases without charging attempts and pause draining.
 * - `throttled`: 429/503 or a `Retry-After`; back off the whole batch, charged, never split.
 * - `transient`: may succeed later; charged with backoff (a batch is split first to find a culprit).
 * - `permanent`: will never succeed; dead-letter at once (a batch is split first to isolate it).
 */
export type FailureClass = 'outage' | 'throttled' | 'transient' | 'permanent';

/** Classifies an error thrown by a vector store or embedder. Unknown errors count as transient. */
export function classifyFailure(error: unknown): FailureClass {
  if (error instanceof BackendUnavailableError) return 'outage';
  if (error instanceof TransientBackendError)
    return error.status === 429 || error.status === 503 || error.retryAfterMs !== undefined
      ? 'throttled'
      : 'transient';
  if (error instanceof DualwriteError) return error.retryable ? 'transient' : 'permanent';
  return 'transient';
}

/** `retryAfterMs` carried by the error, if any. */
export function retryAfterOf(error: unknown): number | undefined {
  if (error instanceof TransientBackendError || error instanceof BackendUnavailableError)
    return error.retryAfterMs;
  return undefined;
}

/** A short single-line message for `lastError`. */
export function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}
