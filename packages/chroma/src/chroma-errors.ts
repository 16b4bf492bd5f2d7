/**
 * Maps Chroma HTTP responses and network failures to dualwrite's typed errors.
 *
 * | Situation                                                    | Error                          | Retryable |
 * | ------------------------------------------------------------ | ------------------------------ | --------- |
 * | connection refused / reset, DNS failure, `fetch failed`      | `BackendUnavailableError`      | yes (attempt not charged) |
 * | HTTP 401 / 403 (bad or expired credentials: not the record's fault) | `BackendUnavailableError` | yes (attempt not charged) |
 * | HTTP 5xx "Error creating hnsw segment reader" (the server lost a collection's vector segment) | `BackendUnavailableError`, with the remedy | yes (attempt not charged) |
 * | request timeout (`requestTimeoutMs`), HTTP 408, 429, 5xx     | `TransientBackendError` (`status`, `retryAfterMs` from `Retry-After`) | yes |
 * | HTTP 412 (a collection being deleted: "Missing metadata segment") | `TransientBackendError` (`status`) | yes |
 * | HTTP 400 "Collection expecting embedding with dimension of N, got M" | `DimensionMismatchError` | no |
 * | other HTTP 4xx (400, 404, 409, 413, 422, ...)                | `PermanentBackendError` (`status`) | no |
 *
 * Chroma error bodies look like `{"error":"InvalidArgumentError","message":"..."}`; the message is kept.
 *
 * @packageDocumentation
 */
import {
  BackendUnavailableError,
  ClosedError,
  DimensionMismatchError,
  DualwriteError,
  PermanentBackendError,
  TransientBackendError,
} from '@dualwrite/core';
import {
  ChromaClientError,
  ChromaConnectionError,
  ChromaForbiddenError,
  ChromaNotFoundError,
  ChromaQuotaExceededError,
  ChromaRateLimitError,
  ChromaServerError,
  ChromaUnauthorizedError,
  ChromaUniqueError,
  ChromaValueError,
} from 'chromadb';

/** Component name used in every error this adapter throws. */
export const CHROMA_COMPONENT = 'chroma';

const component = CHROMA_COMPONENT;

/** Network error codes that mean "the server is not reachable / went away". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/**
 * Parses an HTTP `Retry-After` value (delta-seconds or an HTTP-date) into milliseconds from `now`.
 * @returns ms ≥ 0, or `undefined` when absent or unparseable.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Extracts Chroma's `message` (or `error`) from a JSON error body; falls back to the raw text. */
export function chromaErrorMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown; error?: unknown; detail?: unknown };
    const message = parsed.message ?? parsed.detail ?? parsed.error;
    if (typeof message === 'string' && message.length > 0)
      return typeof parsed.error === 'string' && parsed.error !== message
        ? `${parsed.error}: ${message}`
        : message;
  } catch {
    // not JSON
  }
  return body.length > 500 ? `${body.slice(0, 500)}…` : body;
}

/**
 * Chroma's local server answers a read with HTTP 500 "Error creating hnsw segment reader" (e.g. "Nothing found on
 * disk") while a new collection takes its first writes (helper-53: 5–18 of 200 searches during the first
 * deliveries, none after), and for every read of a collection whose HNSW segment it lost, until it restarts
 * (chroma-core/chroma#4212, vanna-ai/vanna#950; seen here once in CI, under concurrent crash trials on one
 * server). The server's fault, not the record's: reads are tried again a few times ({@link SEGMENT_RETRY_MS}),
 * delivery pauses instead of charging attempts, and the error says what helps.
 */
const SEGMENT_UNREADABLE = /Error creating hnsw segment reader/i;
const SEGMENT_UNREADABLE_REMEDY =
  "Chroma could not read this collection's vector segment (chroma-core/chroma#4212; brief while a new collection takes its first writes): if it persists, restart the Chroma server; if it still does, delete the collection and restart this process — dualwrite rebuilds the index from the source of truth";
/** Waits before trying a read again that met {@link SEGMENT_UNREADABLE}, ms (about 0.6 s in all). */
const SEGMENT_RETRY_MS = [50, 150, 400];
/** Requests that only read (`.../get`, `.../query`, `.../count`): safe to send again. */
const READ_REQUEST = /\/(get|query|count)$/;

/**
 * Error for a non-2xx HTTP response.
 * @param what - the request, e.g. `'POST /api/v2/.../upsert'`.
 */
export function errorFromResponse(
  status: number,
  body: string,
  retryAfter: string | null | undefined,
  what: string,
): DualwriteError {
  const detail = chromaErrorMessage(body) || `HTTP ${status}`;
  const message = `${what} failed with HTTP ${status}: ${detail}`;
  const retryAfterMs = parseRetryAfter(retryAfter);
  if (status >= 500 && SEGMENT_UNREADABLE.test(detail))
    return new BackendUnavailableError(`${message}. ${SEGMENT_UNREADABLE_REMEDY}`, {
      component,
      retryAfterMs,
    });
  // 412: the collection's segments are gone while it is being deleted (found by a break-it round, where it
  // dead-lettered a healthy record); the next call resolves the collection again.
  if (status === 429 || status === 408 || status === 412 || status >= 500)
    return new TransientBackendError(message, { component, status, retryAfterMs });
  if (status === 401 || status === 403)
    return new BackendUnavailableError(message, { component, retryAfterMs });
  const dim = /expecting embedding with dimension of (\d+), got (\d+)/i.exec(detail);
  if (dim) return new DimensionMismatchError('embedding', Number(dim[1]), Number(dim[2]), { component });
  return new PermanentBackendError(message, { component, status });
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errors = (current as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0) current = errors[0];
    else current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Error for a request that produced no HTTP response (fetch threw).
 * @param timeoutMs - the per-request timeout, used in the message when the request timed out.
 */
export function errorFromNetwork(error: unknown, what: string, timeoutMs: number): DualwriteError {
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError')
    return new TransientBackendError(`${what} timed out after ${timeoutMs} ms`, { component, cause: error });
  const code = errorCode(error);
  const reason = code ?? (error instanceof Error ? error.message : String(error));
  if (name === 'AbortError')
    return new TransientBackendError(`${what} was aborted (${reason})`, { component, cause: error });
  const kind = code && UNAVAILABLE_CODES.has(code) ? 'cannot reach the Chroma server' : 'request failed';
  return new BackendUnavailableError(`${what}: ${kind} (${reason})`, { component, cause: error });
}

/**
 * Normalises anything thrown by the `chromadb` client into a dualwrite error. Errors raised by
 * {@link createChromaTransport} are already typed and pass through unchanged; the client's own error
 * classes (thrown when the transport could not be installed, or by client-side validation) are mapped by
 * class.
 * @param what - the operation, e.g. `'upsert'`.
 */
export function toDualwriteError(error: unknown, what: string): DualwriteError {
  if (error instanceof DualwriteError) return error;
  const message = `${what} failed: ${error instanceof Error ? error.message : String(error)}`;
  const cause = error;
  if (error instanceof ChromaConnectionError)
    return new BackendUnavailableError(message, { component, cause });
  if (error instanceof ChromaUnauthorizedError || error instanceof ChromaForbiddenError)
    return new BackendUnavailableError(message, { component, cause });
  if (error instanceof ChromaRateLimitError)
    return new TransientBackendError(message, { component, cause, status: 429 });
  if (error instanceof ChromaServerError) return new TransientBackendError(message, { component, cause });
  // Only a 412 named as such: a bare "412" could be part of an id or a value in the message.
  if (/\bHTTP 412\b|missing metadata segment/i.test(message))
    return new TransientBackendError(message, { component, cause, status: 412 });
  if (error instanceof ChromaNotFoundError)
    return new PermanentBackendError(message, { component, cause, status: 404 });
  if (error instanceof ChromaUniqueError)
    return new PermanentBackendError(message, { component, cause, status: 409 });
  if (
    error instanceof ChromaValueError ||
    error instanceof ChromaClientError ||
    error instanceof ChromaQuotaExceededError
  ) {
    const dim = /expecting embedding with dimension of (\d+), got (\d+)/i.exec(message);
    if (dim)
      return new DimensionMismatchError('embedding', Number(dim[1]), Number(dim[2]), { component, cause });
    return new PermanentBackendError(message, { component, cause });
  }
  if (error instanceof TypeError && /fetch failed|Failed to fetch/i.test(error.message))
    return errorFromNetwork(error, what, 0);
  return new PermanentBackendError(`${what} failed unexpectedly: ${message}`, { component, cause });
}

/** Options of {@link createChromaTransport}. */
export interface ChromaTransportOptions {
  /** Per-request timeout in ms. */
  timeoutMs: number;
  /** The fetch implementation. Default: `globalThis.fetch`, looked up on every request (so it can be patched). */
  fetch?: typeof fetch;
  /**
   * Aborted when the store closes: requests still in flight are cancelled (their sockets released, so a closed
   * store never keeps the process alive) and fail with `ClosedError`.
   */
  closed?: AbortSignal;
}

/**
 * A `fetch` replacement for the `chromadb` client's HTTP layer: adds a per-request timeout, and turns every
 * failure into a typed dualwrite error (keeping the HTTP status, the server's message and `Retry-After`,
 * which the client's own error classes drop). Successful responses are returned untouched.
 */
export function createChromaTransport(
  options: ChromaTransportOptions,
): (request: Request) => Promise<Response> {
  const send = createChromaRequest(options);
  return async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (!READ_REQUEST.test(path)) return send(request);
    for (const waitMs of SEGMENT_RETRY_MS) {
      try {
        return await send(request.clone()); // the body of a request can be read once
      } catch (error) {
        if (!(error instanceof BackendUnavailableError && SEGMENT_UNREADABLE.test(error.message)))
          throw error;
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
    return send(request);
  };
}

/** One request through the transport of {@link createChromaTransport}, never sent again. */
function createChromaRequest(options: ChromaTransportOptions): (request: Request) => Promise<Response> {
  return async (request: Request): Promise<Response> => {
    const doFetch = options.fetch ?? globalThis.fetch;
    const what = `${request.method} ${new URL(request.url).pathname}`;
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signals = [
      timeout,
      ...(request.signal ? [request.signal] : []),
      ...(options.closed ? [options.closed] : []),
    ];
    const signal = signals.length === 1 ? timeout : AbortSignal.any(signals);
    let response: Response;
    try {
      response = await doFetch(request, { signal });
    } catch (error) {
      if (options.closed?.aborted)
        throw new ClosedError(`chroma vector store (${what} cancelled)`, { component });
      throw errorFromNetwork(error, what, options.timeoutMs);
    }
    if (response.ok) return response;
    let body = '';
    try {
      body = await response.text();
    } catch {
      // body unreadable: keep the status
    }
    throw errorFromResponse(response.status, body, response.headers.get('retry-after'), what);
  };
}
