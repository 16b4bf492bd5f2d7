/**
 * Mapping between dualwrite records and Chroma's metadata / `where` filters.
 *
 * Chroma metadata values are `string | int | float | bool` (Chroma 1.x also accepts `null`, typed arrays and
 * sparse vectors; dualwrite does not use them); keys must be non-empty and must not start with `#` or `$`
 * (reserved by Chroma, HTTP 400 otherwise). See https://docs.trychroma.com/docs/collections/add-data and
 * https://docs.trychroma.com/docs/querying-collections/metadata-filtering.
 *
 * dualwrite stores the record's source-of-truth version under {@link CHROMA_VERSION_KEY} (`_dw_version`, an
 * integer). Core reserves the `_dw` prefix, so user metadata can never collide; keys starting with `_dw` are
 * stripped when reading. Because the version key is always present, a record never has an empty metadata map
 * (which some Chroma versions reject).
 *
 * @packageDocumentation
 */
import {
  DimensionMismatchError,
  describeValue,
  type Metadata,
  type MetadataValue,
  maxEmbeddingComponent,
  RESERVED_METADATA_PREFIX,
  ValidationError,
} from '@dualwrite/core';

/** Metadata key holding the record's source-of-truth version (an integer). */
export const CHROMA_VERSION_KEY = `${RESERVED_METADATA_PREFIX}_version`;

/** Metadata as sent to Chroma: user metadata plus {@link CHROMA_VERSION_KEY}. */
export type ChromaRecordMetadata = Record<string, MetadataValue>;

const component = 'chroma';
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const VALUE_LIMIT = 'string | finite number | boolean';

/**
 * Why Chroma cannot store `key` faithfully, beyond what core already refuses, or `undefined`:
 * `#`/`$` prefixes are reserved by the server (HTTP 400; https://docs.trychroma.com/docs/collections/add-data),
 * keys starting with `chroma:` are taken by the server for its own use and dropped from what it stores without an
 * error (measured with Chroma 1.x: `{"chroma:x": 1, "b": 2}` reads back as `{"b": 2}`), and `__proto__` is
 * dropped by Chroma's JavaScript client, which builds metadata objects by assignment (measured with chromadb
 * 3.5.0: `{"__proto__": 5, "b": 2}` reads back as `{"b": 2}`).
 */
export function chromaKeyProblem(key: string): string | undefined {
  if (key.startsWith('#') || key.startsWith('$'))
    return 'keys starting with "#" or "$" are reserved by Chroma';
  if (key.startsWith('chroma:')) return 'keys starting with "chroma:" are dropped by the Chroma server';
  if (key === '__proto__') return 'the key "__proto__" is dropped by Chroma\'s JavaScript client';
  return undefined;
}

/**
 * Checks one metadata key for what Chroma and dualwrite accept.
 * @throws {ValidationError} when empty, refused by {@link chromaKeyProblem}, starting with `_dw`
 *   (dualwrite-reserved), or holding a lone UTF-16 surrogate.
 */
export function checkChromaMetadataKey(key: string, field: string): void {
  if (key.length === 0)
    throw new ValidationError(field, 'has an empty key', { component, limit: 'key length >= 1' });
  const path = `${field}.${key}`;
  const problem = chromaKeyProblem(key);
  if (problem !== undefined) throw new ValidationError(path, problem, { component });
  if (key.startsWith(RESERVED_METADATA_PREFIX))
    throw new ValidationError(path, `keys starting with "${RESERVED_METADATA_PREFIX}" are reserved`, {
      component,
    });
  if (LONE_SURROGATE.test(key))
    throw new ValidationError(path, 'key contains a lone UTF-16 surrogate', { component });
}

/**
 * Checks one metadata (or filter) value.
 * @throws {ValidationError} naming `path` for `null`, `undefined`, arrays, objects, NaN/±Infinity, bigint, or
 *   strings with a lone surrogate.
 */
export function checkChromaMetadataValue(value: unknown, path: string): MetadataValue {
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value))
      throw new ValidationError(path, 'contains a lone UTF-16 surrogate', { component });
    return value;
  }
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw new ValidationError(path, `must be a finite number, got ${value}`, {
        component,
        limit: 'finite number',
      });
    return value;
  }
  throw new ValidationError(path, `must be a string, finite number or boolean, got ${describeValue(value)}`, {
    component,
    limit: VALUE_LIMIT,
  });
}

/**
 * Builds the Chroma metadata of a record: a copy of `metadata` plus `_dw_version`.
 * @param field - path used in errors, e.g. `records[3].metadata`.
 * @throws {ValidationError} when `metadata` is not a plain object, a key is invalid (see
 *   {@link checkChromaMetadataKey}), a value is not a string/finite number/boolean, or `version` is not a
 *   non-negative safe integer (reported as `<record>.version`).
 */
export function toChromaMetadata(metadata: unknown, version: unknown, field: string): ChromaRecordMetadata {
  const versionField = field.replace(/\.metadata$/, '.version');
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0)
    throw new ValidationError(
      versionField,
      `must be a non-negative safe integer, got ${describeValue(version)}`,
      {
        component,
        limit: 'integer 0..2^53-1',
      },
    );
  if (metadata === undefined) return { [CHROMA_VERSION_KEY]: version };
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))
    throw new ValidationError(field, `must be a flat object, got ${describeValue(metadata)}`, { component });
  const out: ChromaRecordMetadata = {};
  for (const [key, value] of Object.entries(metadata)) {
    checkChromaMetadataKey(key, field);
    out[key] = checkChromaMetadataValue(value, `${field}.${key}`);
  }
  out[CHROMA_VERSION_KEY] = version;
  return out;
}

/**
 * Splits Chroma metadata into user metadata and the stored version (`_dw_version`, removed from the user
 * metadata). Everything else is kept as read — also keys starting with `_dw` and values no record holds (an
 * array, an object, `null`: written by other tools) — so the index checks see a row that differs from its
 * record (a break-it round: dropped here, such edits read consistent and were never repaired). A missing or
 * non-numeric version reads as `0` (older than any real version, so reconciliation rewrites the record).
 */
export function fromChromaMetadata(raw: Record<string, unknown> | null | undefined): {
  metadata: Metadata;
  version: number;
} {
  const metadata: Metadata = {};
  let version = 0;
  if (raw) {
    for (const [key, value] of Object.entries(raw)) {
      if (key === CHROMA_VERSION_KEY) {
        if (typeof value === 'number' && Number.isFinite(value)) version = value;
        continue;
      }
      metadata[key] = value as Metadata[string];
    }
  }
  return { metadata, version };
}

/**
 * A Chroma `where` of equality clauses, as {@link toChromaWhere} builds it: structurally the `chromadb`
 * client's `Where`, declared here so this package's types do not import the client's (whose declarations
 * need a module the client does not install: `tsc` with `skipLibCheck: false` failed on them).
 */
export type ChromaWhere =
  | { [key: string]: { $eq: string | number | boolean } }
  | { $and: { [key: string]: { $eq: string | number | boolean } }[] };

/**
 * Translates an equality filter into a Chroma `where`: `{}`/`undefined` → `undefined` (match all), one key →
 * `{ key: { $eq: value } }`, several keys → `{ $and: [{ k1: { $eq: v1 } }, ...] }`.
 * @throws {ValidationError} for an invalid key or value (same rules as metadata, so `_dw*`, `#*`, `$*` and
 *   `chroma:*` keys are rejected), or a number in [2^63, 2^64), which the server's where parser refuses.
 */
export function toChromaWhere(filter: unknown, field = 'options.filter'): ChromaWhere | undefined {
  if (filter === undefined) return undefined;
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter))
    throw new ValidationError(field, `must be a flat object, got ${describeValue(filter)}`, { component });
  const clauses: { [key: string]: { $eq: string | number | boolean } }[] = [];
  for (const [key, value] of Object.entries(filter)) {
    checkChromaMetadataKey(key, field);
    const checked = checkChromaMetadataValue(value, `${field}.${key}`);
    // JSON writes such a number as an integer literal above i64's range, which the server's where parser refuses
    // (HTTP 400 "Invalid where clause"; measured with Chroma 1.x: 2^63, 1e19 and 2^64 - 4096 fail; 2^64 and -1e19
    // match).
    if (typeof checked === 'number' && checked >= 2 ** 63 && checked < 2 ** 64)
      throw new ValidationError(`${field}.${key}`, `is ${checked}, which Chroma cannot filter on`, {
        component,
        limit: 'a number outside [2^63, 2^64)',
      });
    clauses.push({ [key]: { $eq: checked } });
  }
  if (clauses.length === 0) return undefined;
  if (clauses.length === 1) return clauses[0];
  return { $and: clauses };
}

/**
 * Checks a record id: a non-empty string without NUL or lone UTF-16 surrogates (they cannot round-trip through
 * JSON/UTF-8). Any other characters (quotes, SQL metacharacters, emoji, ...) are fine: ids travel as JSON
 * strings, never inside a predicate.
 * @throws {ValidationError} naming `field`.
 */
export function checkChromaId(id: unknown, field: string): string {
  if (typeof id !== 'string')
    throw new ValidationError(field, `must be a string, got ${describeValue(id)}`, { component });
  if (id.length === 0)
    throw new ValidationError(field, 'must not be empty', { component, limit: 'length >= 1' });
  if (id.includes('\u0000'))
    throw new ValidationError(field, 'must not contain NUL', { component, limit: 'no U+0000' });
  if (LONE_SURROGATE.test(id))
    throw new ValidationError(field, 'contains a lone UTF-16 surrogate', {
      component,
      limit: 'well-formed Unicode',
    });
  return id;
}

/**
 * Checks a record's text (stored as the Chroma document): a string without lone surrogates. May be empty.
 * @throws {ValidationError} naming `field`.
 */
export function checkChromaText(text: unknown, field: string): string {
  if (typeof text !== 'string')
    throw new ValidationError(field, `must be a string, got ${describeValue(text)}`, { component });
  if (LONE_SURROGATE.test(text))
    throw new ValidationError(field, 'contains a lone UTF-16 surrogate', { component });
  return text;
}

/**
 * Checks an embedding and copies it into a plain array.
 * @throws {DimensionMismatchError} when its length differs from `dimension`.
 * @throws {ValidationError} when it is not an array/typed array or holds NaN, ±Infinity or a non-number.
 */
export function checkChromaEmbedding(embedding: unknown, dimension: number, field: string): number[] {
  if (
    !Array.isArray(embedding) &&
    !(embedding instanceof Float32Array) &&
    !(embedding instanceof Float64Array)
  )
    throw new ValidationError(field, `must be an array of numbers, got ${describeValue(embedding)}`, {
      component,
    });
  const values = embedding as ArrayLike<unknown>;
  if (values.length !== dimension)
    throw new DimensionMismatchError(field, dimension, values.length, { component });
  const bound = maxEmbeddingComponent(dimension);
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new ValidationError(`${field}[${i}]`, `must be a finite number, got ${describeValue(v)}`, {
        component,
        limit: 'finite number',
      });
    if (Math.abs(Math.fround(v)) > bound)
      throw new ValidationError(`${field}[${i}]`, `is ${v}, too large for float32 distance math`, {
        component,
        limit: `|value| <= ${bound.toPrecision(3)}`,
      });
    out[i] = v;
  }
  return out;
}
