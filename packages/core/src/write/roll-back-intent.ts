import type { TwoPhaseIntent } from '../contracts/outbox.js';
import type { RelationalStore } from '../contracts/relational-store.js';

/**
 * Rolls back a sync-2pc intent that outlived its TTL, in one transaction under its id's lock: deletes it
 * (`false` when it was already gone) and enqueues the record's current state, so the index converges to what
 * the source holds. When the record is older than the intent's version (the abandoned write never committed),
 * the record is first rewritten unchanged at a fresh version, above the intent's: the writer may only be stopped,
 * and once it resumes its vector write lands late — at a version above the record's, which the index's version
 * fence would let through, and then the writer may die before its commit is refused. Above it, the rolled-back
 * state fences that write out (a break-it round with a writer SIGSTOPped past the TTL and killed after its write
 * landed: the index held a version SQL never committed while `syncStatus` said synced, 9 of 9 runs on SQLite and
 * PostgreSQL). A record with no row (the abandoned write was its first) has nothing to fence with: its delete is
 * enqueued, and a late insert is an orphan the periodic checks find (`VectorStore.versionsInRange`).
 */
export function rollBackIntent(
  relational: RelationalStore,
  intent: Pick<TwoPhaseIntent, 'token' | 'recordId' | 'version'>,
  now: number,
): Promise<boolean> {
  const id = intent.recordId;
  return relational.transaction(async (tx) => {
    await tx.lockRecords?.([id]);
    if (!(await tx.deleteIntent!(intent.token))) return false;
    const current = await tx.getRecord(id);
    if (current === undefined) {
      const queued = await tx.getOutboxEntry(id);
      await tx.enqueue(id, Math.max(intent.version, queued?.version ?? 0), 'delete', now);
      return true;
    }
    let version = current.version;
    if (version < intent.version) {
      version = await tx.nextVersion(intent.version);
      await tx.writeRecord({
        id,
        text: current.text,
        embedding: current.embedding,
        metadata: current.metadata,
        version,
        deleted: current.deleted,
        contentHash: current.contentHash,
        syncedVersion: null,
        now,
      });
    }
    await tx.enqueue(id, version, current.deleted ? 'delete' : 'upsert', now);
    return true;
  });
}
