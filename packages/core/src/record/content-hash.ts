import { createHash } from 'node:crypto';
import { encodeEmbedding } from './embedding-codec.js';
import type { Metadata } from './types.js';

/** SHA-256 (hex) of a text, used as the embedding-cache key. */
export function textHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * SHA-256 (hex) of text, metadata (keys sorted) and the float32 bytes of the embedding. Two puts with
 * equal hashes carry the same content, so the second is a no-op. `embedding === null` hashes as absent.
 */
export function contentHash(text: string, metadata: Metadata, embedding: readonly number[] | null): string {
  const hash = createHash('sha256');
  hash.update(text, 'utf8');
  hash.update('\u0000');
  const keys = Object.keys(metadata).sort();
  hash.update(JSON.stringify(keys.map((k) => [k, metadata[k]])), 'utf8');
  hash.update('\u0000');
  if (embedding) hash.update(encodeEmbedding(embedding));
  return hash.digest('hex');
}
