/**
 * An error the HTTP layer answers as is: status, stable `code`, optional `field`/`limit` and headers.
 * Thrown by the service for app-level conditions (not found, duplicate ids, a core error re-addressed to
 * the API's field names); core's typed errors are mapped in `error-handler.ts`.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  readonly limit: string | undefined;
  /** Sent as `Retry-After` (rounded up to seconds) when set. */
  readonly retryAfterMs: number | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { field?: string; limit?: string; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = options.field;
    this.limit = options.limit;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** 404 for a resource that does not exist. */
  static notFound(message: string): ApiError {
    return new ApiError(404, 'NOT_FOUND', message);
  }

  /** 400 naming the field. */
  static invalid(field: string, message: string, limit?: string): ApiError {
    return new ApiError(400, 'VALIDATION', `invalid ${field}: ${message}`, { field, limit });
  }
}
