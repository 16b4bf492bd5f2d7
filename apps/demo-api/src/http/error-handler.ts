import {
  BackendUnavailableError,
  BackpressureError,
  ClosedError,
  ConflictError,
  DualwriteError,
  PermanentBackendError,
  TimeoutError,
  TransientBackendError,
  ValidationError,
} from '@dualwrite/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './api-error.js';
import type { ErrorResponse } from './schemas.js';

/** An HTTP answer for an error. */
export interface ErrorAnswer {
  status: number;
  body: ErrorResponse['error'];
  /** Seconds, for `Retry-After`. */
  retryAfter?: number;
  headers?: Record<string, string>;
}

interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/** JSON pointer `/summaries/0/level` → `summaries[0].level`. */
export function pointerToField(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  }
  return out;
}

function limitOf(error: AjvError): string | undefined {
  const p = error.params;
  switch (error.keyword) {
    case 'maxLength':
      return `<= ${p.limit} characters`;
    case 'minLength':
      return `>= ${p.limit} characters`;
    case 'maxItems':
      return `<= ${p.limit} items`;
    case 'minItems':
      return `>= ${p.limit} items`;
    case 'maximum':
    case 'minimum':
    case 'exclusiveMaximum':
    case 'exclusiveMinimum':
      return `${p.comparison} ${p.limit}`;
    case 'enum':
      return (p.allowedValues as unknown[]).map((v) => String(v)).join(' | ');
    case 'type':
      return String(p.type);
    case 'pattern':
      return `matches ${p.pattern}`;
    default:
      return undefined;
  }
}

/** Fastify's schema-validation failure → 400 naming the field (first error only: ajv `allErrors: false`). */
function validationAnswer(error: FastifyError): ErrorAnswer {
  const first = (error.validation as AjvError[] | undefined)?.[0];
  const context = (error as { validationContext?: string }).validationContext ?? 'body';
  if (!first) return { status: 400, body: { code: 'VALIDATION', message: error.message } };
  let field = pointerToField(first.instancePath);
  let message = first.message ?? 'is invalid';
  if (first.keyword === 'required') {
    const missing = String(first.params.missingProperty);
    field = field ? `${field}.${missing}` : missing;
    message = 'is required';
  } else if (first.keyword === 'additionalProperties') {
    const extra = String(first.params.additionalProperty);
    // `?=x` or `{"": 1}`: the unknown field's name is empty, not the whole ${context}.
    const named = extra === '' ? '""' : extra;
    field = field ? `${field}.${named}` : named;
    message = extra === '' ? 'is not a known field (its name is empty)' : 'is not a known field';
  }
  if (!field) field = context;
  const limit = limitOf(first);
  return {
    status: 400,
    body: {
      code: 'VALIDATION',
      message: `invalid ${field} (${context}): ${message}${limit ? ` (limit: ${limit})` : ''}`,
      field,
      ...(limit ? { limit } : {}),
    },
  };
}

function retrySeconds(ms: number | undefined): number {
  return Math.max(1, Math.ceil((ms ?? 1_000) / 1_000));
}

/**
 * Maps any error to an HTTP answer:
 * - schema validation, core `ValidationError` / `DimensionMismatchError` → 400 `{ code, message, field, limit }`;
 * - body over the limit → 413; bad JSON → 400; missing/wrong bearer token → 401;
 * - `BackpressureError`, `BackendUnavailableError`, `TransientBackendError`, `TimeoutError`, `ClosedError`
 *   → 503 with `Retry-After`; `PermanentBackendError` → 502; `ConflictError` → 409;
 * - anything else → 500 (logged, message hidden).
 */
export function toErrorAnswer(error: unknown, bodyLimit: number): ErrorAnswer {
  if (error instanceof ApiError)
    return {
      status: error.status,
      body: {
        code: error.code,
        message: error.message,
        ...(error.field === undefined ? {} : { field: error.field }),
        ...(error.limit === undefined ? {} : { limit: error.limit }),
      },
      ...(error.retryAfterMs === undefined ? {} : { retryAfter: retrySeconds(error.retryAfterMs) }),
    };
  if (error instanceof ValidationError)
    return {
      status: 400,
      body: {
        code: error.code,
        message: error.message,
        field: error.field,
        ...(error.limit === undefined ? {} : { limit: error.limit }),
      },
    };
  if (error instanceof BackpressureError)
    return {
      status: 503,
      body: {
        code: error.code,
        message: error.message,
        limit: `outbox depth < ${error.limit}`,
        retryable: true,
      },
      retryAfter: retrySeconds(error.retryAfterMs),
    };
  if (error instanceof BackendUnavailableError || error instanceof TransientBackendError)
    return {
      status: 503,
      body: { code: error.code, message: error.message, retryable: true },
      retryAfter: retrySeconds(error.retryAfterMs),
    };
  if (error instanceof TimeoutError || error instanceof ClosedError)
    return {
      status: 503,
      // A sync-2pc transaction that committed but timed out waiting for the index says retryable: false.
      body: {
        code: error.code,
        message: error.message,
        retryable: error instanceof ClosedError || error.retryable,
      },
      retryAfter: 1,
    };
  if (error instanceof PermanentBackendError)
    return { status: 502, body: { code: error.code, message: error.message, retryable: false } };
  if (error instanceof ConflictError)
    return { status: 409, body: { code: error.code, message: error.message, retryable: true } };
  if (error instanceof DualwriteError)
    return { status: 500, body: { code: error.code, message: error.message, retryable: error.retryable } };

  const fe = error as FastifyError;
  if (fe?.validation) return validationAnswer(fe);
  if (fe?.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return {
      status: 413,
      body: {
        code: 'PAYLOAD_TOO_LARGE',
        message: `request body is larger than ${bodyLimit} bytes`,
        field: 'body',
        limit: `<= ${bodyLimit} bytes`,
      },
    };
  if (typeof fe?.code === 'string' && fe.code.startsWith('FST_BEARER_AUTH'))
    return {
      status: 401,
      body: {
        code: 'UNAUTHORIZED',
        message: 'missing or invalid bearer token (Authorization: Bearer <token>)',
      },
      headers: { 'www-authenticate': 'Bearer realm="demo-api"' },
    };
  if (fe?.code === 'FST_ERR_BAD_URL')
    return {
      status: 400,
      body: { code: 'VALIDATION', message: 'invalid path: not valid percent-encoded UTF-8', field: 'path' },
    };
  if (fe?.code === 'FST_ERR_MAX_PARAM_LENGTH')
    return {
      status: 400,
      body: {
        code: 'VALIDATION',
        message: 'invalid fqn: too long',
        field: 'fqn',
        limit: '<= 512 characters',
      },
    };
  if (fe?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return {
      status: 415,
      body: {
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: 'invalid content-type: send the body as JSON',
        field: 'content-type',
        limit: 'application/json',
      },
    };
  if (fe instanceof SyntaxError || fe?.code === 'FST_ERR_CTP_INVALID_JSON_BODY')
    return {
      status: 400,
      body: { code: 'INVALID_JSON', message: `body is not valid JSON: ${fe.message}`, field: 'body' },
    };
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500)
    return { status, body: { code: fe.code ?? 'BAD_REQUEST', message: fe.message } };
  return { status: 500, body: { code: 'INTERNAL', message: 'internal server error' } };
}

/** Answers `error` by {@link toErrorAnswer}: status, headers and `{ error: { ..., requestId } }`. */
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply, bodyLimit: number) {
  const answer = toErrorAnswer(error, bodyLimit);
  if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.info({ code: answer.body.code, field: answer.body.field }, answer.body.message);
  if (answer.retryAfter !== undefined) reply.header('retry-after', String(answer.retryAfter));
  for (const [k, v] of Object.entries(answer.headers ?? {})) reply.header(k, v);
  reply.header('x-request-id', String(request.id));
  return reply.status(answer.status).send({ error: { ...answer.body, requestId: String(request.id) } });
}

/** Installs the error and not-found handlers: every error body is `{ error: { code, message, ... } }`. */
export function installErrorHandling(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) =>
    sendError(error, request, reply, bodyLimit),
  );
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `no route ${request.method} ${request.url}`,
        requestId: String(request.id),
      },
    }),
  );
}
