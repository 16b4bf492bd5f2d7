import type { Metadata, StoredRecord, VectorRecord } from './types.js';

/** Same keys with the same values (`===`, so `0` equals `-0`); key order does not matter. */
export function metadataEqual(a: Metadata, b: Metadata): boolean {
  return sameKeys(a, b, (x, y) => x === y);
}

/**
 * Same keys, each value `same` as the other's; key order does not matter. Never equal when either is not a plain
 * object: an index row's metadata written by another tool may read back as `null`, an array or a number (a
 * break-it round: `null` threw in every check, so no check found anything; `[]` passed for `{}`).
 */
function sameKeys(a: Metadata, b: Metadata, same: (x: unknown, y: unknown) => boolean): boolean {
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether `a` and `b` differ by at most `tolerance` of the larger magnitude. */
function relativelyClose(a: number, b: number, tolerance: number): boolean {
  return Math.abs(a - b) <= tolerance * Math.max(Math.abs(a), Math.abs(b));
}

/** Same length and the same components, both `null`, or one `null` (never equal to a vector). */
export function embeddingEqual(a: readonly number[] | null, b: readonly number[] | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The fields a {@link contentDifference} compares. */
export type ContentField = 'text' | 'metadata' | 'embedding';

/**
 * Which of `record`'s fields the index row `indexed` holds differently: its text, its metadata, or its vector
 * (compared by {@link vectorsMatch}; skipped while the source of truth holds no embedding yet). Empty when
 * the row is what a delivery of `record` writes.
 */
export function contentDifference(
  record: Pick<StoredRecord, 'text' | 'metadata' | 'embedding'>,
  indexed: Pick<VectorRecord, 'text' | 'metadata' | 'embedding'>,
): ContentField[] {
  const out: ContentField[] = [];
  if (record.text !== indexed.text) out.push('text');
  if (!metadataMatches(record.metadata, indexed.metadata)) out.push('metadata');
  if (record.embedding !== null && !vectorsMatch(record.embedding, indexed.embedding)) out.push('embedding');
  return out;
}

/**
 * Largest relative difference {@link metadataMatches} accepts between two numbers: 4 float64 units in the last
 * place (2^-50).
 */
export const METADATA_NUMBER_READ_BACK_TOLERANCE = 2 ** -50;

/**
 * Whether `indexed` (metadata read back from an index) is `stored` (the source of truth's): the same keys with
 * the same strings and booleans, and numbers within {@link METADATA_NUMBER_READ_BACK_TOLERANCE} of each other,
 * relatively. Not exact equality: Chroma's server parses a JSON number into the float64 one unit in the last
 * place off for about one double in ten (`912866.1402564291` comes back `…292`; a break-it round), so a record
 * holding one never compared equal, and every check started a full repair that could not change it.
 */
export function metadataMatches(stored: Metadata, indexed: Metadata): boolean {
  return sameKeys(
    stored,
    indexed,
    (a, b) =>
      a === b ||
      (typeof a === 'number' &&
        typeof b === 'number' &&
        relativelyClose(a, b, METADATA_NUMBER_READ_BACK_TOLERANCE)),
  );
}

/** Largest relative difference {@link vectorsMatch} accepts per component: about 8 float32 units in the last place. */
export const VECTOR_READ_BACK_TOLERANCE = 1e-6;

/**
 * Smallest positive normal float32 (2^-126). Below it a component is subnormal, and a backend may return it rounded
 * to a neighbouring subnormal (Chroma: `2.8e-45` → `1.4e-45`, `1e-40` → `9.9998e-41`), far beyond a relative
 * tolerance but never a different vector.
 */
const FLOAT32_MIN_NORMAL = 2 ** -126;

/**
 * Whether `indexed` (a vector read back from an index) is `stored` (the source of truth's, float32 values):
 * same length, each component within {@link VECTOR_READ_BACK_TOLERANCE} of it, relatively (or both within the
 * float32 subnormal range of each other, below 2^-126 apart). Not exact
 * equality: a backend may return its float32 values rounded further on the way back (Chroma's JSON prints
 * about 7 significant digits, measured one unit in the last place off); an edited vector differs by far more.
 * A component that is not a finite number never matches: the source of truth holds finite ones only, and
 * another tool's `±Infinity` or `NaN` passed both comparisons above (a break-it round on LanceDB: such a row
 * read consistent, and its record was never found by search again).
 */
export function vectorsMatch(stored: readonly number[], indexed: readonly number[]): boolean {
  if (stored.length !== indexed.length) return false;
  for (let i = 0; i < stored.length; i++) {
    const [a, b] = [stored[i]!, indexed[i]!];
    if (a === b) continue;
    if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
    if (Math.abs(a - b) >= FLOAT32_MIN_NORMAL && !relativelyClose(a, b, VECTOR_READ_BACK_TOLERANCE))
      return false;
  }
  return true;
}
