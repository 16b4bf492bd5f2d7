import { ErrorResponse } from './schemas.js';

/** Error responses documented on every API route (the body is always {@link ErrorResponse}). */
export const API_ERRORS = {
  400: ErrorResponse,
  401: ErrorResponse,
  503: ErrorResponse,
} as const;

/** Error responses of write routes. */
export const WRITE_ERRORS = { ...API_ERRORS, 413: ErrorResponse } as const;

/** Marks a route as needing the bearer token when one is configured (OpenAPI). */
export const SECURED = [{ bearerAuth: [] }];
