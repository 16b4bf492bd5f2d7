import type { Metadata, StoredRecord, VectorRecord } from './types.js';

/** Same keys with the same values (`===`, so `0` equals `-0`); key order does not matter. */
export function metadataEqual(a: Metadata, b: Metadata): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
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
  if (!metadataEqual(record.metadata, indexed.metadata)) out.push('metadata');
  if (record.embedding !== null && !vectorsMatch(record.embedding, indexed.embedding)) out.push('embedding');
  return out;
}

/** Largest relative difference {@link vectorsMatch} accepts per component: about 8 float32 units in the last place. */
export const VECTOR_READ_BACK_TOLERANCE = 1e-6;

/**
 * Whether `indexed` (a vector read back from an index) is `stored` (the source of truth's, float32 values):
 * same length, each component within {@link VECTOR_READ_BACK_TOLERANCE} of it, relatively. Not exact
 * equality: a backend may return its float32 values rounded further on the way back (Chroma's JSON prints
 * about 7 significant digits, measured one unit in the last place off); an edited vector differs by far more.
 */
export function vectorsMatch(stored: readonly number[], indexed: readonly number[]): boolean {
  if (stored.length !== indexed.length) return false;
  for (let i = 0; i < stored.length; i++) {
    const [a, b] = [stored[i]!, indexed[i]!];
    if (a !== b && !(Math.abs(a - b) <= VECTOR_READ_BACK_TOLERANCE * Math.max(Math.abs(a), Math.abs(b))))
      return false;
  }
  return true;
}
