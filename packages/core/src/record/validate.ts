import { DimensionMismatchError, ValidationError } from '../errors.js';
import { describeValue } from '../util/describe-value.js';
import { type OptionKeys, refuseUnknownKeys } from '../util/option-keys.js';
import { DEFAULT_LIMITS, RESERVED_METADATA_PREFIX, type RecordLimits } from './limits.js';
import type { Metadata, MetadataValue, RecordInput } from './types.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Validates a record id.
 * @throws {ValidationError} when `id` is not a string, empty, longer than `maxIdLength` UTF-16 code units
 *   (JavaScript's `length`), or contains NUL or a lone surrogate (which cannot round-trip through UTF-8 stores).
 */
export function validateId(id: unknown, field = 'id', limits: RecordLimits = DEFAULT_LIMITS): string {
  if (typeof id !== 'string') throw new ValidationError(field, `must be a string, got ${describeValue(id)}`);
  if (id.length === 0) throw new ValidationError(field, 'must not be empty', { limit: 'length >= 1' });
  if (id.length > limits.maxIdLength)
    throw new ValidationError(field, `is ${id.length} UTF-16 code units long`, {
      limit: `length <= ${limits.maxIdLength} UTF-16 code units`,
    });
  if (id.includes('\u0000')) throw new ValidationError(field, 'must not contain NUL', { limit: 'no U+0000' });
  if (LONE_SURROGATE.test(id))
    throw new ValidationError(field, 'contains a lone UTF-16 surrogate', { limit: 'well-formed Unicode' });
  return id;
}

/** Largest finite float32, 3.4028234663852886e38. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Largest magnitude {@link validateEmbedding} accepts for a component of a `dimension`-d embedding:
 * `sqrt(float32 max / (4 × dimension))`, so that no dot product, squared norm or squared L2 distance a backend
 * computes in float32 can overflow to Infinity or NaN: the L2 distance of two vectors at the bound pointing
 * opposite ways is `4 × dimension × bound²` (at `sqrt(float32 max / dimension)`, the bound before, LanceDB left
 * such a hit out of a search under `'l2'` and Chroma answered it with a `null` score: helper-53). For 384
 * dimensions that is about 4.7e17: far beyond any real embedding, far below what float64 allows.
 */
export function maxEmbeddingComponent(dimension: number): number {
  return Math.sqrt(FLOAT32_MAX / (4 * Math.max(1, dimension)));
}

/** float32's smallest normal number, 2^-126: a square below it keeps only some of its 24 significant bits. */
const FLOAT32_MIN_NORMAL = 2 ** -126;

/**
 * `true` when `embedding` has no usable direction for cosine distance: its squared norm, from its components
 * rounded to float32, is below float32's smallest normal number (the norm below about 1.08e-19). A backend
 * computing in float32 then gets a zero norm and a NaN distance (the all-zero vector, and vectors zero to the
 * index), or squares that kept only a few significant bits: a norm off by percents, so the vector outranks an
 * exact match with a cosine score above 1 (1.0097 for `[1, 0.1, …] × 1e-22` on LanceDB 0.31 and Chroma 1.x,
 * helper-53). Stores using cosine refuse such a vector through `VectorStore.embeddingProblem`.
 */
export function lacksDirection(embedding: readonly number[]): boolean {
  let squares = 0;
  for (const x of embedding) squares += Math.fround(x) ** 2;
  return squares < FLOAT32_MIN_NORMAL;
}

/**
 * Validates an embedding against the collection dimension. Values are checked as the stores keep them,
 * rounded to float32: `1e39` is finite in float64 but Infinity in float32, and is refused here rather
 * than stored as Infinity and dead-lettered at delivery.
 * @throws {DimensionMismatchError} when the length differs from `dimension`.
 * @throws {ValidationError} when it is not an array, holds NaN, ±Infinity or a non-number, or a component
 *   whose magnitude exceeds {@link maxEmbeddingComponent}.
 */
export function validateEmbedding(embedding: unknown, dimension: number, field = 'embedding'): number[] {
  if (
    !Array.isArray(embedding) &&
    !(embedding instanceof Float32Array) &&
    !(embedding instanceof Float64Array)
  )
    throw new ValidationError(field, `must be an array of numbers, got ${describeValue(embedding)}`);
  const values = embedding as ArrayLike<unknown>;
  if (values.length !== dimension) throw new DimensionMismatchError(field, dimension, values.length);
  const bound = maxEmbeddingComponent(dimension);
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new ValidationError(`${field}[${i}]`, `must be a finite number, got ${describeValue(v)}`, {
        limit: 'finite number',
      });
    if (Math.abs(Math.fround(v)) > bound)
      throw new ValidationError(`${field}[${i}]`, `is ${v}, too large for float32 distance math`, {
        limit: `|value| <= ${bound.toPrecision(3)} (sqrt(float32 max / (4 × ${dimension})))`,
      });
    out[i] = v;
  }
  return out;
}

/**
 * Says why a backend cannot store a metadata key (see `VectorStore.metadataKeyProblem`), or `undefined`.
 */
export type MetadataKeyCheck = (key: string) => string | undefined;

/**
 * Validates flat metadata.
 * @param keyProblem - the vector store's own key rule, if it has one (e.g. Chroma reserves `$`/`#`).
 * @throws {ValidationError} when `metadata` is not a plain object (a `Map` or a class instance has no
 *   enumerable data to keep: it would be stored as `{}`); naming the key when a value is `null`, an array,
 *   an object, a non-finite number or `undefined`; when a key is empty, too long, reserved (`_dw*`) or refused by `keyProblem`,
 *   or is a symbol;
 *   or when there are more than `maxMetadataKeys` keys or the JSON exceeds `maxMetadataBytes`.
 */
export function validateMetadata(
  metadata: unknown,
  field = 'metadata',
  limits: RecordLimits = DEFAULT_LIMITS,
  keyProblem?: MetadataKeyCheck,
): Metadata {
  if (metadata === undefined) return {};
  if (!isPlainObject(metadata))
    throw new ValidationError(field, `must be a plain object of flat values, got ${describeValue(metadata)}`);
  // JSON (every store's metadata format) has no symbol keys: refused rather than silently dropped (helper-52).
  if (Object.getOwnPropertySymbols(metadata).length > 0)
    throw new ValidationError(field, 'has a symbol key', { limit: 'string keys only' });
  const entries = Object.entries(metadata);
  if (entries.length > limits.maxMetadataKeys)
    throw new ValidationError(field, `has ${entries.length} keys`, {
      limit: `<= ${limits.maxMetadataKeys} keys`,
    });
  const valid: [string, MetadataValue][] = [];
  for (const [key, value] of entries) {
    const path = `${field}.${key}`;
    if (key.length === 0) throw new ValidationError(field, 'has an empty key', { limit: 'key length >= 1' });
    if (key.length > limits.maxMetadataKeyLength)
      throw new ValidationError(path, `key is ${key.length} characters long`, {
        limit: `key length <= ${limits.maxMetadataKeyLength}`,
      });
    if (key.startsWith(RESERVED_METADATA_PREFIX))
      throw new ValidationError(path, `keys starting with "${RESERVED_METADATA_PREFIX}" are reserved`);
    if (LONE_SURROGATE.test(key)) throw new ValidationError(path, 'key contains a lone UTF-16 surrogate');
    const problem = keyProblem?.(key);
    if (problem !== undefined) throw new ValidationError(path, problem);
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) throw new ValidationError(path, 'contains a lone UTF-16 surrogate');
      valid.push([key, value]);
    } else if (typeof value === 'boolean') valid.push([key, value]);
    else if (typeof value === 'number') {
      if (!Number.isFinite(value))
        throw new ValidationError(path, `must be a finite number, got ${value}`, { limit: 'finite number' });
      valid.push([key, value === 0 ? 0 : value]); // -0 is 0: JSON writes it so, on every backend
    } else
      throw new ValidationError(
        path,
        `must be a string, finite number or boolean, got ${describeValue(value)}`,
        {
          limit: 'string | finite number | boolean',
        },
      );
  }
  // fromEntries defines own properties, so a key like "__proto__" is kept as data.
  const out: Metadata = Object.fromEntries(valid);
  const bytes = Buffer.byteLength(JSON.stringify(out), 'utf8');
  if (bytes > limits.maxMetadataBytes)
    throw new ValidationError(field, `is ${bytes} bytes as JSON`, {
      limit: `<= ${limits.maxMetadataBytes} bytes`,
    });
  return out;
}

/**
 * Validates text.
 * @throws {ValidationError} when `text` is not a string, exceeds `maxTextBytes` UTF-8 bytes, or holds
 *   NUL or a lone surrogate.
 */
export function validateText(text: unknown, field = 'text', limits: RecordLimits = DEFAULT_LIMITS): string {
  if (typeof text !== 'string')
    throw new ValidationError(field, `must be a string, got ${describeValue(text)}`);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxTextBytes)
    throw new ValidationError(field, `is ${bytes} bytes`, { limit: `<= ${limits.maxTextBytes} bytes` });
  if (text.includes('\u0000'))
    throw new ValidationError(field, 'must not contain NUL (PostgreSQL text cannot store it)', {
      limit: 'no U+0000',
    });
  if (LONE_SURROGATE.test(text)) throw new ValidationError(field, 'contains a lone UTF-16 surrogate');
  return text;
}

/** A record that passed validation: metadata defaulted, embedding copied into a plain array. */
export interface ValidRecord {
  id: string;
  text: string;
  embedding: number[] | undefined;
  metadata: Metadata;
}

/**
 * Validates one {@link RecordInput}.
 * @param field - path prefix used in error messages, e.g. `records[2]`.
 * @throws {ValidationError} / {@link DimensionMismatchError} naming the first bad field, or a key that is not
 *   a record field (suggesting the one meant: `metdata`, `vector`; a read-back record's `version`, `score`, …).
 */
export function validateRecord(
  input: unknown,
  dimension: number,
  field = 'record',
  limits: RecordLimits = DEFAULT_LIMITS,
  keyProblem?: MetadataKeyCheck,
): ValidRecord {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw new ValidationError(field, `must be an object, got ${describeValue(input)}`);
  refuseRecordKeys(input, field);
  const r = input as Partial<RecordInput>;
  return {
    id: validateId(r.id, `${field}.id`, limits),
    text: validateText(r.text, `${field}.text`, limits),
    embedding:
      r.embedding === undefined ? undefined : validateEmbedding(r.embedding, dimension, `${field}.embedding`),
    metadata: validateMetadata(r.metadata, `${field}.metadata`, limits, keyProblem),
  };
}

const RECORD_KEYS: OptionKeys<RecordInput> = { id: true, text: true, embedding: true, metadata: true };

/** Keys other libraries use for a record's fields, and what dualwrite calls them. */
const RECORD_KEY_ALIASES: Readonly<Record<string, keyof RecordInput>> = {
  vector: 'embedding',
  values: 'embedding',
  embeddings: 'embedding',
  document: 'text',
  content: 'text',
  pageContent: 'text',
  meta: 'metadata',
};

/** Fields of a `StoredRecord` or a `SearchHit` that a record written back after a change may still carry. */
const READ_BACK_FIELDS = new Set([
  'version',
  'deleted',
  'contentHash',
  'syncedVersion',
  'createdAt',
  'updatedAt',
  'score',
  'distance',
  'indexedVersion',
  'stale',
]);

/**
 * Refuses a record key dualwrite does not take: a misspelled `metdata` or `embeding` would otherwise be
 * dropped and the record written without it (and, for the embedding, embedded by the embedder instead).
 */
function refuseRecordKeys(input: object, field: string): void {
  refuseUnknownKeys(input, RECORD_KEYS, field, undefined, {
    noun: 'a record field',
    hint: (key) =>
      READ_BACK_FIELDS.has(key)
        ? ` (it comes with a record read back by get() or search(), and the store draws versions: write { id, text, metadata } — and an embedding only if it is of the new text)`
        : Object.hasOwn(RECORD_KEY_ALIASES, key)
          ? ` — did you mean ${JSON.stringify(RECORD_KEY_ALIASES[key])}?`
          : undefined,
  });
}

/** An object whose prototype is `Object.prototype` (of any realm) or `null`: `{}` literals, JSON, `Object.create(null)`. */
function isPlainObject(value: unknown): value is object {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/**
 * Validates a key of `RelationalStore.getMeta` / `setMeta`: 1..200 characters.
 * @throws {ValidationError} naming `key` otherwise.
 */
export function validateMetaKey(key: unknown, component = 'core'): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 200)
    throw new ValidationError('key', `must be a string of 1..200 characters, got ${describeValue(key)}`, {
      component,
      limit: '1..200 characters',
    });
  return key;
}
