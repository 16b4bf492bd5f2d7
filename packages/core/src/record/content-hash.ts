import { createHash } from 'node:crypto';
import { encodeEmbedding } from './embedding-codec.js';
import type { Metadata } from './types.js';

/** SHA-256 (hex) of a text, used as the embedding-cache key. */
export function textHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

const NUL = Buffer.from([0]);

/**
 * The bytes {@link contentHash} hashes before the embedding's: the text (UTF-8), NUL, the metadata's
 * `[key, value]` pairs (keys sorted by UTF-16 code units) as JSON (UTF-8), NUL. For a store that finishes the
 * hash next to an embedding it holds, in SQL (`sha256(prefix || embedding)`).
 */
export function contentHashPrefix(text: string, metadata: Metadata): Buffer {
  return Buffer.concat(
    prefixParts(text, metadata).map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)),
  );
}

/** The pieces of {@link contentHashPrefix} in order; strings stand for their UTF-8 bytes. */
function prefixParts(text: string, metadata: Metadata): (string | Buffer)[] {
  const pairs = Object.keys(metadata)
    .sort()
    .map((k) => [k, metadata[k]]);
  return [text, NUL, JSON.stringify(pairs), NUL];
}

/**
 * SHA-256 (hex) of text, metadata (keys sorted) and the float32 bytes of the embedding
 * ({@link contentHashPrefix}, then the bytes). `embedding === null` hashes as absent. A record row's hash covers
 * the embedding its latest write *gave* (none when the embedder fills it or a stored one is reused), which is
 * how `filledByEmbedder` tells the embedder's embeddings from the caller's.
 */
export function contentHash(text: string, metadata: Metadata, embedding: readonly number[] | null): string {
  const hash = createHash('sha256');
  // The bytes of contentHashPrefix, fed piece by piece (no concatenated copy of the text).
  for (const part of prefixParts(text, metadata)) hash.update(part);
  if (embedding) hash.update(encodeEmbedding(embedding));
  return hash.digest('hex');
}
