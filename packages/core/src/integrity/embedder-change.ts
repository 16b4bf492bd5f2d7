/**
 * What an embedder change does to the embeddings the old embedder filled (`indexBinding: 'rebind'` with another
 * `Embedder.id`): they are derived data, so they are cleared and filled again by the new embedder on delivery;
 * embeddings callers gave are kept.
 *
 * @packageDocumentation
 */
import type { RelationalStore } from '../contracts/relational-store.js';
import { filledByEmbedder } from '../record/embedding-provenance.js';
import type { StoredRecord } from '../record/types.js';

/**
 * Meta key set (JSON {@link EmbedderChange}) when the binding moved to another embedder, before it moved, and
 * cleared once every embedding the old one filled was cleared ({@link clearFilledEmbeddings}): a crash in
 * between leaves it set, and the next repair finishes the work.
 */
export const EMBEDDER_CHANGE_KEY = 'embedder-change';

/** An embedder change whose embeddings are still to be cleared. Times are Unix ms. */
export interface EmbedderChange {
  /** `Embedder.id` the source of truth was bound to. */
  from: string;
  /** `Embedder.id` it is bound to now. */
  to: string;
  since: number;
}

/** Records that the binding moves `from` one embedder `to` another (read by the next repair). */
export async function recordEmbedderChange(
  relational: RelationalStore,
  change: EmbedderChange,
): Promise<void> {
  await relational.setMeta(EMBEDDER_CHANGE_KEY, JSON.stringify(change));
}

/** The recorded embedder change whose embeddings are still to be cleared, or `null`. */
export async function pendingEmbedderChange(relational: RelationalStore): Promise<EmbedderChange | null> {
  const raw = await relational.getMeta(EMBEDDER_CHANGE_KEY);
  if (raw === undefined) return null;
  try {
    return JSON.parse(raw) as EmbedderChange;
  } catch {
    return { from: '?', to: '?', since: 0 };
  }
}

/**
 * Whether the embedder fills (or filled) this record's embedding: {@link filledByEmbedder}, or live with none
 * yet and a latest write that gave none. Rewriting the second kind too moves its version past any delivery of
 * the old embedder still in flight (its `setEmbedding` then misses, and its ack is superseded), so a vector
 * that process computes can never stick.
 */
function embedderOwned(record: StoredRecord): boolean {
  return filledByEmbedder(record) || (!record.deleted && record.embedding === null);
}

/**
 * Clears every embedding the embedder filled ({@link filledByEmbedder}): each such record — and each live one
 * still waiting for its embedding — is written again at a new version with no embedding, and its outbox entry
 * enqueued in the same transaction, so delivery embeds it with the configured embedder and the index converges
 * to that. Records whose embedding a caller gave are not touched. Reads the records in pages of `pageSize` ids
 * (code point order), one transaction per page holding the page's ids' locks; a record changed in between is
 * checked again under its lock. Then forgets the recorded change ({@link EMBEDDER_CHANGE_KEY}). Idempotent: run
 * again after a crash, it clears what the new embedder filled since (filled again, by the same embedder).
 * @returns the number of records cleared.
 */
export async function clearFilledEmbeddings(
  relational: RelationalStore,
  now: number,
  pageSize = 500,
): Promise<number> {
  let cleared = 0;
  let after: string | undefined;
  for (;;) {
    const page = await relational.listVersions({ after, limit: pageSize });
    if (page.length === 0) break;
    after = page.at(-1)!.id;
    const live = page.filter((r) => !r.deleted).map((r) => r.id);
    const records = await relational.getRecords(live);
    const ids = [...records.values()].filter(embedderOwned).map((r) => r.id);
    if (ids.length === 0) continue;
    cleared += await relational.transaction(async (tx) => {
      await tx.lockRecords?.(ids);
      let n = 0;
      for (const id of ids) {
        const record = await tx.getRecord(id);
        if (record === undefined || !embedderOwned(record)) continue;
        const version = await tx.nextVersion();
        await tx.writeRecord({
          id,
          text: record.text,
          embedding: null,
          metadata: record.metadata,
          version,
          deleted: false,
          contentHash: record.contentHash,
          syncedVersion: null,
          now,
        });
        await tx.enqueue(id, version, 'upsert', now);
        n++;
      }
      return n;
    });
  }
  await relational.setMeta(EMBEDDER_CHANGE_KEY, null);
  return cleared;
}
