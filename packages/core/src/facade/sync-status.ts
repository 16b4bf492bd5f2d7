/**
 * Where one record stands between the two stores, from the source of truth's bookkeeping (nothing is read from
 * the index but, with a sync-2pc intent logged, the id's version: `verifyConsistency` and `reconcile` do that):
 * - `synced`: the index acknowledged `version` (for a delete: the vector is gone; sync-2pc keeps the
 *   tombstone, async-queue and batch purge it, so there a synced delete reads `absent`).
 * - `pending`: an outbox entry will deliver `version`; `lastError` says why the last attempt at delivering this
 *   version failed since it was queued (`null` before one did: an older version's error is not reported for a
 *   newer write, nor a dead letter's for its requeue; while a backend is down no attempt is made or charged, see
 *   `stats().downBackend`).
 * - `dead-lettered`: delivery gave up; `error` is the reason; `requeueDeadLetters` retries it.
 * - `drifted`: no entry is pending but the index is not known to hold the current version — or the index
 *   itself was found replaced, emptied or otherwise out of step and is being repaired (`reason` says
 *   why); `reconcile()` repairs it. Also while a sync-2pc write of the id is in flight or was abandoned by a
 *   crashed writer (its intent is logged) and the index does not hold the committed version: it may hold one
 *   the source never committed until the write commits or recovery rolls it back (only then is the id's
 *   version read from the index).
 * - `absent`: no record and nothing pending (never written, or deleted and synced).
 */
export type SyncStatus =
  | { id: string; state: 'synced'; version: number; deleted: boolean }
  | {
      id: string;
      state: 'pending';
      version: number;
      attempts: number;
      nextAttemptAt: number;
      lastError: string | null;
    }
  | { id: string; state: 'dead-lettered'; version: number; attempts: number; error: string }
  | {
      id: string;
      state: 'drifted';
      version: number;
      syncedVersion: number | null;
      /** Set when the whole index is in question (see `stats().indexDrift`), not just this record. */
      reason?: string;
    }
  | { id: string; state: 'absent' };
