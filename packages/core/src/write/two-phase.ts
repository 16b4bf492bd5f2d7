import type { OutboxOp } from '../contracts/outbox.js';
import type {
  IntentCommit,
  IntentCommitOptions,
  PreparedIntent,
  RecordWrite,
  RelationalTx,
} from '../contracts/relational-store.js';
import { ConflictError } from '../errors.js';
import type { StoredRecord } from '../record/types.js';
import type { rebaseAboveIndex } from './rebase-above-index.js';

/**
 * sync-2pc's prepare inside a transaction (the rule a store's `prepareIntents` fast path must follow): the
 * ids' locks first and at once, then for each id in the order given its row, whether it has an outbox entry,
 * a new version and the intent `{ token: tokens[i], recordId: id, version, expiresAt }`. Every id gets an
 * intent, also one whose change core then finds to be a no-op (its intent is dropped at commit): the
 * decision needs the row, and a store's one-statement prepare cannot wait for core in between. (While a
 * no-op's intent exists, an ack of a delete of the same id keeps the tombstone, as for any intent; a
 * tombstone kept that way stays until the id is written again, or a reconcile walks past it once settled:
 * `IntentLogStore.purgeTombstones`.)
 * @throws the store's typed errors; `ValidationError` for an id the store cannot hold.
 */
export async function prepareIntentsInTx(
  tx: RelationalTx,
  ids: readonly string[],
  tokens: readonly string[],
  expiresAt: number,
): Promise<PreparedIntent[]> {
  await tx.lockRecords?.(ids);
  const prepared: PreparedIntent[] = [];
  for (const [i, id] of ids.entries()) {
    const previous = await tx.getRecord(id);
    const contended = (await tx.getOutboxEntry(id)) !== undefined;
    const version = await tx.nextVersion();
    await tx.putIntent!({ token: tokens[i]!, recordId: id, version, expiresAt });
    prepared.push({ previous, version, contended });
  }
  return prepared;
}

/** What sync-2pc's commit rule reads of one id under its lock, once the write's own intent is deleted. */
export interface CommitFacts {
  /** The write's intent was still there (recovery had not resolved it); a write without it is refused. */
  ours: boolean;
  /** The record's current row, if any. */
  current: Pick<StoredRecord, 'version' | 'deleted' | 'syncedVersion'> | undefined;
  /** The id has an outbox entry now. */
  queued: boolean;
  /** Other writers' intents for the id. */
  otherIntents: number;
}

/** What the commit does for one write: the row to write (if any), and the outbox entry to enqueue (if any). */
export interface CommitStep {
  /** The row to write (`syncedVersion` decided), or `undefined` when a newer version is already stored. */
  record: RecordWrite | undefined;
  /** The outbox entry to enqueue, or `undefined` when the write is synced. */
  enqueue: { version: number; op: OutboxOp } | undefined;
}

/**
 * The error of a sync-2pc commit refused because the write's intent is gone (see {@link commitStep}); a store's
 * `commitIntents` fast path throws it too.
 */
export function outlivedIntent(id: string): ConflictError {
  return new ConflictError(
    `the sync-2pc write of ${JSON.stringify(id)} outlived its intent (intentTtlMs): recovery rolled it back before ` +
      'its commit, and nothing of it was committed — write it again (keep intentTtlMs above the longest vector call)',
    { component: 'sync-2pc' },
  );
}

/**
 * sync-2pc's commit rule for one write, given what was read under its lock:
 * - a write whose intent is gone is refused: recovery took it for abandoned (past `intentTtlMs`) and rolled it
 *   back, enqueueing the record's state before it; that repair may since have rewritten the record above the
 *   version the write landed in the index ({@link rebaseAboveIndex}), so committing now could acknowledge a write
 *   the source no longer holds (it did: the late commit returned success over the rewritten record). The whole
 *   commit transaction rolls back and sync-2pc compensates, as for any failed commit;
 * - a record a concurrent writer moved past the write's version only gets an outbox entry for its current
 *   state (a newer delete included: a tombstone is never purged while an intent for its record exists);
 * - otherwise the row is written, marked synced (`syncedVersion = version`) only when nothing can have
 *   raced the vector write: the write was not deferred, the id had no outbox entry at prepare or now (a worker
 *   may be delivering an older state), the record did not move since prepare (a writer that committed and was
 *   delivered *and* acknowledged in between may have landed after our vector write), and no other writer's
 *   intent exists. Else it is enqueued, so the index converges to the record's current state.
 * @throws {ConflictError} (retryable) for a write whose intent is gone.
 */
export function commitStep(
  write: IntentCommit,
  { ours, current, queued, otherIntents }: CommitFacts,
  { now, deferred }: Pick<IntentCommitOptions, 'now' | 'deferred'>,
): CommitStep {
  const { next } = write;
  if (!ours) throw outlivedIntent(next.id);
  if (current && current.version > next.version)
    return {
      record: undefined,
      enqueue: { version: current.version, op: current.deleted ? 'delete' : 'upsert' },
    };
  const raced =
    write.contended || (current?.version ?? null) !== write.previousVersion || queued || otherIntents > 0;
  const synced = !deferred && !raced;
  return {
    record: { ...next, syncedVersion: synced ? next.version : (current?.syncedVersion ?? null), now },
    enqueue: synced ? undefined : { version: next.version, op: write.op },
  };
}

/**
 * sync-2pc's commit inside a transaction (what a store's `commitIntents` fast path must do): takes the
 * writes' locks, deletes the no-ops' intents, then for each write deletes its intent, reads what
 * {@link commitStep} needs and applies it.
 * @returns the ids it enqueued (not marked synced: deferred, or raced by another writer), in the order given.
 * @throws {ConflictError} when a write's intent is gone (see {@link commitStep}); nothing is committed.
 * @throws the store's typed errors (`TransientBackendError` for a lock timeout or deadlock, ...).
 */
export async function commitIntentsInTx(
  tx: RelationalTx,
  writes: readonly IntentCommit[],
  options: IntentCommitOptions,
): Promise<string[]> {
  // The locks first: recovery (`rollBackIntent`) takes an id's lock and then deletes its intent, so deleting
  // an intent before taking the lock could wait on each other in a cycle.
  if (writes.length > 0) await tx.lockRecords?.(writes.map((w) => w.next.id));
  for (const token of options.dropTokens) await tx.deleteIntent!(token);
  const enqueued: string[] = [];
  for (const write of writes) {
    const { id } = write.next;
    const ours = await tx.deleteIntent!(write.token);
    const current = await tx.getRecord(id);
    const queued = (await tx.getOutboxEntry(id)) !== undefined;
    const otherIntents = await tx.countIntents!(id);
    const step = commitStep(write, { ours, current, queued, otherIntents }, options);
    if (step.record) await tx.writeRecord(step.record);
    if (step.enqueue) {
      await tx.enqueue(id, step.enqueue.version, step.enqueue.op, options.now);
      enqueued.push(id);
    }
  }
  return enqueued;
}
