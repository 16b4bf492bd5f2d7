import {
  describeValue,
  MAX_TIMER_MS,
  type OptionKeys,
  refuseUnknownKeys,
  ValidationError,
} from '@dualwrite/core';

/**
 * Distance function of the Chroma collection (its HNSW `space`).
 *
 * - `'cosine'` (the dualwrite default; note Chroma's own default is `'l2'`): distance = 1 − cos(a, b) in
 *   [0, 2]; `VectorHit.score` = 1 − distance = cosine similarity in [−1, 1].
 * - `'ip'`: distance = 1 − a·b; score = 1 − distance = a·b (inner product, unbounded).
 * - `'l2'`: distance = ‖a − b‖² (squared Euclidean); score = −distance (higher is closer, ≤ 0).
 *
 * See https://docs.trychroma.com/docs/collections/configure (HNSW `space`).
 */
export type ChromaDistance = 'cosine' | 'l2' | 'ip';

/** Authentication sent with every request. */
export interface ChromaAuthOptions {
  /** The token (Chroma's token auth provider, or Chroma Cloud's API key). */
  token: string;
  /**
   * Header carrying the token. `'x-chroma-token'` (default) sends `x-chroma-token: <token>`;
   * `'authorization'` sends `Authorization: Bearer <token>`.
   */
  header?: 'x-chroma-token' | 'authorization';
}

/** Options of {@link ChromaVectorStore.open}. */
export interface ChromaVectorStoreOptions {
  /**
   * Base URL of the Chroma server, e.g. `http://127.0.0.1:8000`. A path prefix (reverse proxy) is kept:
   * requests go to `<url>/api/v2/...`.
   */
  url: string;
  /**
   * Collection name. Default `'dualwrite'`. Chroma requires 3–512 characters from `[a-zA-Z0-9._-]`, starting
   * and ending with a letter or digit, no `..`, not an IP address.
   */
  collection?: string;
  /** Vector dimension (number of float components), 1..65,536. Checked on every write and query. */
  dimension: number;
  /** Distance function used when the collection is created. Default `'cosine'`. */
  distance?: ChromaDistance;
  /** Token authentication. */
  auth?: ChromaAuthOptions;
  /** Extra HTTP headers sent with every request (applied after {@link auth}). */
  headers?: Record<string, string>;
  /** Chroma tenant. Default `'default_tenant'`. Must exist. */
  tenant?: string;
  /** Chroma database inside the tenant. Default `'default_database'`. Must exist. */
  database?: string;
  /**
   * Upper bound on records per `upsert`/`delete`/`get` request. Default: the server's `max_batch_size` from
   * `GET /api/v2/pre-flight-checks` (5,461 for a local Chroma 1.x server: SQLite's 32,766 bound parameters ÷ 6
   * per record; see https://cookbook.chromadb.dev/strategies/batching). An override can only lower it: the
   * effective size is `min(override, server max)`.
   */
  maxBatchSize?: number;
  /**
   * Soft limit on the estimated JSON body of one write request, in bytes. Default 32 MiB (33,554,432), under
   * the Chroma frontend's default `max_payload_size_bytes` of 40 MiB (larger bodies get HTTP 413). A single
   * record larger than this is still sent on its own.
   */
  maxRequestBytes?: number;
  /**
   * Hard limit on the JSON body of one request, in bytes: the Chroma frontend's `max_payload_size_bytes`
   * (default 40 MiB, 41,943,040; a local Chroma 1.x server took a 39 MiB text and answered HTTP 413 to a 40 MiB
   * one). A record larger than this on its own is refused at `put` (`recordSizeProblem`). Set it to your server's
   * value if you changed that.
   */
  maxPayloadBytes?: number;
  /**
   * Timeout of one HTTP request in ms (a timeout throws `TransientBackendError`). Integer 1..2^31 - 1, the longest a
   * Node.js timer holds (a longer one fired after 1 ms, failing every request). Default 30,000.
   */
  requestTimeoutMs?: number;
}

/** {@link ChromaVectorStoreOptions} with defaults applied and values checked. */
export interface ResolvedChromaVectorStoreOptions {
  url: string;
  collection: string;
  dimension: number;
  distance: ChromaDistance;
  headers: Record<string, string>;
  tenant: string;
  database: string;
  maxBatchSize: number | undefined;
  maxRequestBytes: number;
  maxPayloadBytes: number;
  requestTimeoutMs: number;
}

/** Default collection name. */
export const DEFAULT_CHROMA_COLLECTION = 'dualwrite';
/** Default distance: cosine (Chroma's own default would be `'l2'`). */
export const DEFAULT_CHROMA_DISTANCE: ChromaDistance = 'cosine';
/** Default per-request timeout in ms. */
export const DEFAULT_CHROMA_REQUEST_TIMEOUT_MS = 30_000;
/** Default soft limit of one write request's body in bytes (32 MiB). */
export const DEFAULT_CHROMA_MAX_REQUEST_BYTES = 32 * 1024 * 1024;

/** Default `maxPayloadBytes`: the Chroma frontend's default `max_payload_size_bytes`, 40 MiB. */
export const DEFAULT_CHROMA_MAX_PAYLOAD_BYTES = 40 * 1024 * 1024;
/** Chroma's default tenant. */
export const DEFAULT_CHROMA_TENANT = 'default_tenant';
/** Chroma's default database. */
export const DEFAULT_CHROMA_DATABASE = 'default_database';

const COLLECTION_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const opts = { component: 'chroma' };

function positiveInt(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max)
    throw new ValidationError(field, `must be an integer in 1..${max}, got ${describeValue(value)}`, {
      ...opts,
      limit: `integer 1..${max}`,
    });
  return value;
}

/** The keys of {@link ChromaVectorStoreOptions}. */
const OPTION_KEYS: OptionKeys<ChromaVectorStoreOptions> = {
  url: true,
  collection: true,
  dimension: true,
  distance: true,
  auth: true,
  headers: true,
  tenant: true,
  database: true,
  maxBatchSize: true,
  maxRequestBytes: true,
  maxPayloadBytes: true,
  requestTimeoutMs: true,
};

const AUTH_KEYS: OptionKeys<ChromaAuthOptions> = { token: true, header: true };

/**
 * Applies defaults and validates options.
 * @throws {ValidationError} naming the option (`options.url`, `options.dimension`, ...) when invalid or
 *   unknown (a misspelled option would otherwise be ignored).
 */
export function resolveChromaVectorStoreOptions(
  options: ChromaVectorStoreOptions,
): ResolvedChromaVectorStoreOptions {
  if (options === null || typeof options !== 'object')
    throw new ValidationError('options', 'must be an object', opts);
  refuseUnknownKeys(options, OPTION_KEYS, 'options', opts.component);
  if (options.auth !== undefined) {
    if (options.auth === null || typeof options.auth !== 'object')
      throw new ValidationError('options.auth', 'must be { token, header? }', opts);
    refuseUnknownKeys(options.auth, AUTH_KEYS, 'options.auth', opts.component);
  }
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new ValidationError(
      'options.url',
      `must be an absolute http(s) URL, got ${JSON.stringify(options.url)}`,
      opts,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ValidationError('options.url', `must use http or https, got ${url.protocol}`, opts);
  const collection = options.collection ?? DEFAULT_CHROMA_COLLECTION;
  if (
    typeof collection !== 'string' ||
    !COLLECTION_NAME.test(collection) ||
    collection.includes('..') ||
    IPV4.test(collection)
  )
    throw new ValidationError(
      'options.collection',
      `${JSON.stringify(collection)} is not a valid Chroma collection name`,
      {
        ...opts,
        limit: '3-512 chars of [a-zA-Z0-9._-], alphanumeric at both ends, no "..", not an IP address',
      },
    );
  const distance = options.distance ?? DEFAULT_CHROMA_DISTANCE;
  if (distance !== 'cosine' && distance !== 'l2' && distance !== 'ip')
    throw new ValidationError(
      'options.distance',
      `must be 'cosine', 'l2' or 'ip', got ${describeValue(distance)}`,
      opts,
    );
  const headers: Record<string, string> = {};
  if (options.auth) {
    if (typeof options.auth.token !== 'string' || options.auth.token.length === 0)
      throw new ValidationError('options.auth.token', 'must be a non-empty string', opts);
    const { header } = options.auth;
    if (header !== undefined && header !== 'x-chroma-token' && header !== 'authorization')
      throw new ValidationError('options.auth.header', `is ${JSON.stringify(header)}`, {
        ...opts,
        limit: "'x-chroma-token' | 'authorization'",
      });
    if ((options.auth.header ?? 'x-chroma-token') === 'authorization')
      headers.authorization = `Bearer ${options.auth.token}`;
    else headers['x-chroma-token'] = options.auth.token;
  }
  for (const [k, v] of Object.entries(options.headers ?? {})) {
    if (typeof v !== 'string') throw new ValidationError(`options.headers.${k}`, 'must be a string', opts);
    headers[k.toLowerCase()] = v;
  }
  const nonEmpty = (value: unknown, field: string, fallback: string): string => {
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || value.length === 0)
      throw new ValidationError(field, 'must be a non-empty string', opts);
    return value;
  };
  return {
    url: url.toString().replace(/\/+$/, ''),
    collection,
    dimension: positiveInt(options.dimension, 'options.dimension', 65_536),
    distance,
    headers,
    tenant: nonEmpty(options.tenant, 'options.tenant', DEFAULT_CHROMA_TENANT),
    database: nonEmpty(options.database, 'options.database', DEFAULT_CHROMA_DATABASE),
    maxBatchSize:
      options.maxBatchSize === undefined
        ? undefined
        : positiveInt(options.maxBatchSize, 'options.maxBatchSize'),
    maxRequestBytes:
      options.maxRequestBytes === undefined
        ? DEFAULT_CHROMA_MAX_REQUEST_BYTES
        : positiveInt(options.maxRequestBytes, 'options.maxRequestBytes'),
    maxPayloadBytes:
      options.maxPayloadBytes === undefined
        ? DEFAULT_CHROMA_MAX_PAYLOAD_BYTES
        : positiveInt(options.maxPayloadBytes, 'options.maxPayloadBytes'),
    requestTimeoutMs:
      options.requestTimeoutMs === undefined
        ? DEFAULT_CHROMA_REQUEST_TIMEOUT_MS
        : positiveInt(options.requestTimeoutMs, 'options.requestTimeoutMs', MAX_TIMER_MS),
  };
}
