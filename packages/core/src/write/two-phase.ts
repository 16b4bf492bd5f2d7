import type {
  IntentCommit,
  IntentCommitOptions,
  PreparedIntent,
  RelationalTx,
} from '../contracts/relational-store.js';

/**
 * sync-2pc's prepare inside a transaction (the rule a store's `prepareIntents` fast path must follow): the
 * ids' locks first and at once, then for each id in the order given its row, whether it has an outbox entry,
 * a new version and the intent `{ token: tokens[i], recordId: id, version, expiresAt }`. Every id gets an
 * intent, also one whose change core then finds to be a no-op (its intent is dropped at commit): the
 * decision needs the row, and a store's one-statement prepare cannot wait for core in between.
 */
export async function prepareIntentsInTx(
  tx: RelationalTx,
  ids: readonly string[],
  tokens: readonly string[],
  expiresAt: number,
): Promise<PreparedIntent[]> {
  if (ids.length > 1) await tx.lockRecords?.(ids);
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

/**
 * sync-2pc's commit inside a transaction (the rule a store's `commitIntents` fast path must follow). Deletes
 * the no-ops' intents, then, for each write under its lock, deletes its intent and writes its row:
 * - a record a concurrent writer moved past the write's version only gets an outbox entry for its current
 *   state (a newer delete included: a tombstone is never purged while an intent for its record exists);
 * - otherwise the row is written, marked synced (`syncedVersion = version`) only when nothing can have
 *   raced the vector write: the intent was still ours (recovery had not resolved it), the write was not
 *   deferred, the id had no outbox entry at prepare or now (a worker may be delivering an older state), the
 *   record did not move since prepare (a writer that committed and was delivered *and* acknowledged in
 *   between may have landed after our vector write), and no other writer's intent exists. Else it is
 *   enqueued, so the index converges to the record's current state.
 */
export async function commitIntentsInTx(
  tx: RelationalTx,
  writes: readonly IntentCommit[],
  { now, deferred, dropTokens }: IntentCommitOptions,
): Promise<void> {
  for (const token of dropTokens) await tx.deleteIntent!(token);
  if (writes.length > 1) await tx.lockRecords?.(writes.map((w) => w.next.id));
  for (const { token, next, op, previousVersion, contended } of writes) {
    const ours = await tx.deleteIntent!(token);
    const current = await tx.getRecord(next.id);
    if (current && current.version > next.version) {
      await tx.enqueue(next.id, current.version, current.deleted ? 'delete' : 'upsert', now);
      continue;
    }
    const raced =
      contended ||
      (current?.version ?? null) !== previousVersion ||
      (await tx.getOutboxEntry(next.id)) !== undefined ||
      (await tx.countIntents!(next.id)) > 0;
    const synced = ours && !deferred && !raced;
    await tx.writeRecord({
      ...next,
      syncedVersion: synced ? next.version : (current?.syncedVersion ?? null),
      now,
    });
    if (!synced) await tx.enqueue(next.id, next.version, op, now);
  }
}
