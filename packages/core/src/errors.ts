/**
 * Typed errors thrown by dualwrite and its adapters.
 *
 * Every error extends {@link DualwriteError}, carries a stable `code`, an optional `cause`, and says
 * whether retrying the same operation can succeed (`retryable`). Messages read
 * `[dualwrite] [<component>] <what happened>` and name the offending field and limit.
 *
 * Retry classification used by the strategies:
 * - `retryable === false` (validation, dimension mismatch, permanent backend rejection): the outbox entry
 *   goes to dead letter at once with its reason.
 * - {@link TransientBackendError} (5xx, 429, timeouts): retried with exponential backoff and jitter,
 *   charged to the entry's attempt count; `retryAfterMs` is honoured when the backend sends it.
 * - {@link BackendUnavailableError} (the backend is down or unreachable): draining pauses and the attempt
 *   is not charged, so an outage never dead-letters healthy records.
 *
 * @packageDocumentation
 */

/** Stable machine-readable error codes. */
export type DualwriteErrorCode =
  | 'VALIDATION'
  | 'DIMENSION_MISMATCH'
  | 'BACKEND_UNAVAILABLE'
  | 'TRANSIENT_BACKEND'
  | 'PERMANENT_BACKEND'
  | 'CONFLICT'
  | 'CLOSED'
  | 'BACKPRESSURE'
  | 'TIMEOUT'
  | 'NOT_FOUND'
  | 'INDEX_BINDING'
  | 'SCHEMA_VERSION';

/** Options accepted by every {@link DualwriteError} constructor. */
export interface DualwriteErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
  /** Component that raised the error, e.g. `'sqlite'`, `'lancedb'`, `'batch'`. Defaults to `'core'`. */
  component?: string;
}

/** Base class of all dualwrite errors. */
export class DualwriteError extends Error {
  /** Stable code for programmatic handling. */
  readonly code: DualwriteErrorCode;
  /** `true` when repeating the same operation later may succeed. */
  readonly retryable: boolean;
  /** Component that raised the error (`'core'`, `'sqlite'`, `'chroma'`, ...). */
  readonly component: string;

  constructor(
    code: DualwriteErrorCode,
    message: string,
    retryable: boolean,
    options: DualwriteErrorOptions = {},
  ) {
    const component = options.component ?? 'core';
    super(
      `[dualwrite] [${component}] ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = new.target.name;
    this.code = code;
    this.retryable = retryable;
    this.component = component;
  }
}

/**
 * Input was rejected before anything was written. Never retryable.
 *
 * `field` is a path such as `records[3].metadata.tags`; `limit` describes the constraint that failed
 * (e.g. `'<= 1048576 bytes'`, `'string | finite number | boolean'`).
 */
export class ValidationError extends DualwriteError {
  readonly field: string;
  readonly limit: string | undefined;
  /** What is wrong with the field, without the field's name (the message's second half). */
  readonly detail: string;
  constructor(field: string, message: string, options: DualwriteErrorOptions & { limit?: string } = {}) {
    super(
      'VALIDATION',
      `invalid ${field}: ${message}${options.limit ? ` (limit: ${options.limit})` : ''}`,
      false,
      options,
    );
    this.field = field;
    this.limit = options.limit;
    this.detail = message;
  }

  /** The same refusal with `field` named under `path` (`maxBatchSize` → `strategy.maxBatchSize`). */
  within(path: string): ValidationError {
    return new ValidationError(`${path}.${this.field}`, this.detail, {
      component: this.component,
      limit: this.limit,
      cause: this.cause,
    });
  }
}

/** An embedding's length differs from the collection's dimension. Never retryable. */
export class DimensionMismatchError extends ValidationError {
  readonly expected: number;
  readonly actual: number;
  constructor(field: string, expected: number, actual: number, options: DualwriteErrorOptions = {}) {
    super(field, `expected ${expected} dimensions, got ${actual}`, {
      ...options,
      limit: `length === ${expected}`,
    });
    (this as { code: DualwriteErrorCode }).code = 'DIMENSION_MISMATCH';
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * The backend is down or unreachable (connection refused, DNS failure, server stopped).
 * Retryable; strategies pause draining instead of charging the entry's attempt count.
 */
export class BackendUnavailableError extends DualwriteError {
  /** Suggested wait before retrying, in ms, when the backend said so. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: DualwriteErrorOptions & { retryAfterMs?: number } = {}) {
    super('BACKEND_UNAVAILABLE', message, true, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * A single call failed in a way that may succeed later (HTTP 5xx, 429, timeout, SQLITE_BUSY past the
 * busy timeout). Retryable with backoff; charged to the entry's attempt count.
 */
export class TransientBackendError extends DualwriteError {
  /** Suggested wait before retrying in ms (from `Retry-After`), if the backend gave one. */
  readonly retryAfterMs: number | undefined;
  /** HTTP status when the backend speaks HTTP. */
  readonly status: number | undefined;
  constructor(
    message: string,
    options: DualwriteErrorOptions & { retryAfterMs?: number; status?: number } = {},
  ) {
    super('TRANSIENT_BACKEND', message, true, options);
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
  }
}

/** The backend rejected the request itself (HTTP 4xx other than 429). Never retryable. */
export class PermanentBackendError extends DualwriteError {
  readonly status: number | undefined;
  constructor(message: string, options: DualwriteErrorOptions & { status?: number } = {}) {
    super('PERMANENT_BACKEND', message, false, options);
    this.status = options.status;
  }
}

/**
 * Records a sync-2pc call committed were dead-lettered instead of delivered — the index refused them, or their
 * embedding — so the call cannot return with them in the index, nor undo the commit (a `transaction()`'s
 * application rows committed with them). They are in SQL, and absent from the index until the cause is fixed and
 * they are requeued (`dw.requeueDeadLetters`). Never retryable; code `PERMANENT_BACKEND`.
 */
export class DeadLetteredError extends PermanentBackendError {
  /** The dead-lettered records' ids (all of them). */
  readonly ids: string[];
  /** Why the first of them was dead-lettered (its outbox entry's last error). */
  readonly reason: string;
  /**
   * What the `transaction()` callback returned (the transaction committed); `undefined` for a `put` / `delete`,
   * whose results are the records' versions in SQL.
   */
  readonly result: unknown;
  constructor(
    ids: readonly string[],
    reason: string,
    options: DualwriteErrorOptions & { result?: unknown } = {},
  ) {
    const named = ids.slice(0, 5).map((id) => JSON.stringify(id));
    const more = ids.length > named.length ? ` and ${ids.length - named.length} more` : '';
    super(
      `${ids.length} committed record(s) were dead-lettered, not delivered (${named.join(', ')}${more}): ` +
        `${reason}; they are in SQL and not in the index until the cause is fixed and they are requeued ` +
        '(dw.requeueDeadLetters)',
      options,
    );
    this.ids = [...ids];
    this.reason = reason;
    this.result = options.result;
  }

  /** The same error, carrying the `transaction()` callback's `result`. */
  withResult(result: unknown): DeadLetteredError {
    return new DeadLetteredError(this.ids, this.reason, { component: this.component, result });
  }
}

/** A concurrent writer changed the same record; the operation may be retried. */
export class ConflictError extends DualwriteError {
  constructor(message: string, options: DualwriteErrorOptions = {}) {
    super('CONFLICT', message, true, options);
  }
}

/** The store, strategy or facade was closed (or is closing) and accepts no more calls. */
export class ClosedError extends DualwriteError {
  constructor(what: string, options: DualwriteErrorOptions = {}) {
    super('CLOSED', `${what} is closed`, false, options);
  }
}

/**
 * The outbox is deeper than the configured limit and the backpressure mode is `'fail'`
 * (or `'wait'` timed out). Retryable once the backlog drains; `retryAfterMs` is a hint.
 */
export class BackpressureError extends DualwriteError {
  readonly depth: number;
  readonly limit: number;
  readonly retryAfterMs: number;
  constructor(depth: number, limit: number, retryAfterMs: number, options: DualwriteErrorOptions = {}) {
    super('BACKPRESSURE', `outbox depth ${depth} exceeds backpressure.maxDepth ${limit}`, true, options);
    this.depth = depth;
    this.limit = limit;
    this.retryAfterMs = retryAfterMs;
  }
}

/** An operation with a `timeoutMs` did not finish in time. Nothing accepted is lost. */
export class TimeoutError extends DualwriteError {
  readonly timeoutMs: number;
  /**
   * @param options.retryable - default `true`; `false` when running the call again would repeat what already
   *   happened (a sync-2pc `transaction()` whose records committed).
   */
  constructor(
    what: string,
    timeoutMs: number,
    options: DualwriteErrorOptions & { retryable?: boolean } = {},
  ) {
    super('TIMEOUT', `${what} did not finish within ${timeoutMs} ms`, options.retryable ?? true, options);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The source of truth is bound to another vector index (or embedder) than this process is configured
 * with: the data was written into `bound`, the configuration names `configured`. Refused at start so a
 * worker with another collection name can never mark records synced into the wrong index. Never retryable;
 * fix the configuration, or pass `indexBinding: 'rebind'` to move the data to the configured index (a
 * full repair reconcile then fills it). With `fields: ['owner']`: the configured index is the bound one, but
 * another source of truth feeds it (its owner token, stamped on the index, is `configured.owner`); found at
 * start, or later by the periodic check, which then stops delivery. With `fields: ['checkpoint']`: the
 * configured index carries the bound index's identity at another place but misses a checkpoint the source
 * stamped on the bound index — a copy of it, while another process moved the binding to the other copy, or the
 * bound index went back in time (`bound` and `configured` give `location`, `collection` and `checkpoint`); found
 * by the check of an ack or the periodic check, which then hold delivery until the index holds one (not a stop),
 * or at the start of a process that repairs nothing.
 */
export class IndexBindingError extends DualwriteError {
  /** The fields that differ, e.g. `['collection']`. */
  readonly fields: string[];
  /**
   * The source of truth's side (JSON-safe): the index it is bound to, or for `owner` its own token (the one
   * an index it feeds carries).
   */
  readonly bound: Record<string, unknown>;
  /**
   * The side of the index this process is configured with, as found: its identity, or for `owner` the token it
   * carries (another source's), or for `rows` what it holds.
   */
  readonly configured: Record<string, unknown>;
  constructor(
    fields: string[],
    bound: Record<string, unknown>,
    configured: Record<string, unknown>,
    options: DualwriteErrorOptions = {},
  ) {
    // A store reports dimension 0 for a table or collection that is not laid out as dualwrite's any more.
    const notOurs = (f: string) =>
      f === 'dimension' && configured[f] === 0
        ? ' (the index no longer has the columns of a dualwrite index: another tool dropped or changed one)'
        : '';
    const pairs = fields.map(
      (f) =>
        `${f}: bound ${JSON.stringify(bound[f])}, configured ${JSON.stringify(configured[f])}${notOurs(f)}`,
    );
    super(
      'INDEX_BINDING',
      fields.length === 1 && fields[0] === 'rows'
        ? `the vector index holds rows dualwrite did not write (${configured.rows}) and no source of truth's owner token: it is another application's table or collection; give this source its own, or pass indexBinding: 'rebind' to take it over (those rows are then removed as orphans)`
        : fields.length === 1 && fields[0] === 'owner'
          ? `the vector index is fed by another source of truth (it carries owner token ${JSON.stringify(configured.owner)}, this source's is ${JSON.stringify(bound.owner)}): two sources writing one index overwrite each other's rows while every check of either passes; give each source its own table or collection, or pass indexBinding: 'rebind' to take this index over (the other source's rows are then removed)`
          : fields.length === 1 && fields[0] === 'checkpoint'
            ? `the vector index this process reaches (${configured.collection} at ${configured.location}) carries the bound index's identity but not its latest index checkpoint (it holds ${configured.checkpoint}; the source of truth stamped ${bound.checkpoint} on the bound index, at ${bound.location}): it is a copy of the bound index, fed there by another process — or the same index reached another way, gone back in time (restored from a backup), which a process at ${bound.location} repairs. Delivery here is held until this index holds that checkpoint. If it is a copy, stop this process or point it at ${bound.location}; to feed this copy instead, give it its own table or collection name, or restart this process (a start takes the binding over, and the processes on the other copy are held)`
            : fields.length === 1 && fields[0] === 'embedder' && configured.embedder === null
              ? `the source of truth's records are embedded by ${JSON.stringify(bound.embedder)} and this process has no embedder: configure that embedder here (indexBinding: 'rebind' cannot help: a process without an embedder never takes an embedder's binding over)`
              : `the source of truth is bound to another vector index (${pairs.join('; ')}); fix the configuration or pass indexBinding: 'rebind'`,
      false,
      options,
    );
    this.fields = fields;
    this.bound = bound;
    this.configured = configured;
  }
}

/**
 * The source of truth's schema was migrated by a newer dualwrite release, with a migration this release does
 * not know and cannot work with: its store refuses to start rather than misread or corrupt the data. Newer
 * releases record in the schema which release it still serves; migrations that only add (tables, functions,
 * indexes) keep older releases running beside newer ones during a rolling deploy, and keep a rollback
 * possible. Never retryable: upgrade this process.
 */
export class SchemaVersionError extends DualwriteError {
  /** Applied migrations this release does not know (written by the newer release). */
  readonly unknownMigrations: string[];
  /** The oldest migration a release must know to use the schema, as the schema records it (`null`: not recorded). */
  readonly requires: string | null;
  constructor(unknownMigrations: string[], requires: string | null, options: DualwriteErrorOptions = {}) {
    super(
      'SCHEMA_VERSION',
      `the database schema was migrated by a newer dualwrite release (migrations this release does not know: ${unknownMigrations.join(', ')}) ` +
        `and it ${requires === null ? 'does not record which releases it still serves' : `needs a release that knows ${requires}`}; upgrade this process`,
      false,
      options,
    );
    this.unknownMigrations = unknownMigrations;
    this.requires = requires;
  }
}

/** `true` when `error` is a dualwrite error (of any installed copy of core) that may succeed if retried. */
export function isRetryable(error: unknown): boolean {
  return asDualwriteError(error)?.retryable ?? false;
}

const ERROR_CODES: ReadonlySet<string> = new Set<DualwriteErrorCode>([
  'VALIDATION',
  'DIMENSION_MISMATCH',
  'BACKEND_UNAVAILABLE',
  'TRANSIENT_BACKEND',
  'PERMANENT_BACKEND',
  'CONFLICT',
  'CLOSED',
  'BACKPRESSURE',
  'TIMEOUT',
  'NOT_FOUND',
  'INDEX_BINDING',
]);

/** The fields of a {@link DualwriteError} that decide how a failure is handled. */
export interface DualwriteErrorShape {
  code: DualwriteErrorCode;
  retryable: boolean;
  retryAfterMs?: number;
  status?: number;
}

/**
 * `error` as a dualwrite error, recognised by its `code` (and `retryable`) rather than by `instanceof`, so
 * an error thrown by an adapter that loaded a second copy of `@dualwrite/core` (two versions installed side
 * by side) is classified like one from this copy — an outage stays an outage instead of becoming charged
 * attempts. `undefined` for any other value.
 */
export function asDualwriteError(error: unknown): DualwriteErrorShape | undefined {
  if (error instanceof DualwriteError) return error as DualwriteErrorShape;
  if (!(error instanceof Error)) return undefined;
  const { code, retryable } = error as { code?: unknown; retryable?: unknown };
  return typeof code === 'string' && ERROR_CODES.has(code) && typeof retryable === 'boolean'
    ? (error as unknown as DualwriteErrorShape)
    : undefined;
}
