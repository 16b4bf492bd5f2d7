import type { RelationalStore } from '../contracts/relational-store.js';

/** What {@link rebaseAboveIndex} did. */
export type RebaseOutcome =
  /** The record is rewritten at a fresh version above the index's and enqueued at it. */
  | 'rebased'
  /** Nothing to do: the record moved on from `version`, is gone, or the index is not above it. */
  | 'settled'
  /** A live sync-2pc intent for the id: its writer may be about to commit the index's version. */
  | 'blocked';

/**
 * The index holds a version of `id` above the record's (the source went back in time: restored from a backup, a
 * reset sequence, a sync-2pc write that never committed). The source always wins: the record, still at
 * `version`, is rewritten unchanged at a fresh version above `indexVersion` — which the index's version fence lets
 * through — and enqueued at it, in one transaction. Nothing is rewritten while a sync-2pc intent for the id is
 * live: rewriting would make that writer's commit look superseded and lose it.
 * @param version - the record's version the caller saw (a write since then is left to deliver itself).
 * @param indexVersion - the version the index holds.
 * @param now - ms since epoch, for the outbox entry.
 */
export function rebaseAboveIndex(
  relational: RelationalStore,
  id: string,
  version: number,
  indexVersion: number,
  now: number,
): Promise<RebaseOutcome> {
  return relational.transaction(async (tx) => {
    const current = await tx.getRecord(id);
    if (!current || current.version !== version || indexVersion <= current.version) return 'settled';
    if (((await tx.countIntents?.(id)) ?? 0) > 0) return 'blocked';
    const fresh = await tx.nextVersion(indexVersion);
    await tx.writeRecord({
      id,
      text: current.text,
      embedding: current.embedding,
      metadata: current.metadata,
      version: fresh,
      deleted: current.deleted,
      contentHash: current.contentHash,
      syncedVersion: null,
      now,
    });
    await tx.enqueue(id, fresh, current.deleted ? 'delete' : 'upsert', now);
    return 'rebased';
  });
}
