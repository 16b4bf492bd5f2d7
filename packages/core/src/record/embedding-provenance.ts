import { contentHash } from './content-hash.js';
import type { StoredRecord } from './types.js';

/**
 * Whether a stored record's embedding is the embedder's rather than the caller's: the record is live, holds an
 * embedding, and its latest write gave none (its `contentHash` covers text and metadata alone — see `planOne`).
 * Such an embedding is derived data, like the index: when the embedder changes (`indexBinding: 'rebind'`) it is
 * cleared and filled again by the new one, while an embedding a caller gave is kept.
 *
 * Rows written by releases before this rule hashed a reused embedding too; they count as the caller's (kept).
 */
export function filledByEmbedder(
  record: Pick<StoredRecord, 'text' | 'metadata' | 'embedding' | 'contentHash' | 'deleted'>,
): boolean {
  return (
    !record.deleted &&
    record.embedding !== null &&
    record.contentHash === contentHash(record.text, record.metadata, null)
  );
}
