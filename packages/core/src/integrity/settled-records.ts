import type { TwoPhaseIntent } from '../contracts/outbox.js';
import { readOutboxEntry } from '../contracts/relational-operations.js';
import { hasIntentLog, type RelationalStore } from '../contracts/relational-store.js';
import type { StoredRecord } from '../record/types.js';

/**
 * The live records among `ids` with no outbox entry (nothing pending, leased or dead-lettered), by id: those
 * whose index row is not in flux, so the index must hold at least their `syncedVersion`.
 */
export async function settledRecords(
  relational: RelationalStore,
  ids: readonly string[],
): Promise<Map<string, StoredRecord>> {
  const settled = new Map<string, StoredRecord>();
  if (ids.length === 0) return settled;
  for (const record of (await relational.getRecords(ids)).values())
    if ((await readOutboxEntry(relational, record.id)) === undefined) settled.set(record.id, record);
  return settled;
}

/** The ids of `ids` with no outbox entry (pending or dead) and no sync-2pc intent. */
export async function notInFlight(
  relational: RelationalStore,
  ids: readonly string[],
  inFlight: () => Promise<ReadonlySet<string>>,
): Promise<string[]> {
  if (ids.length === 0) return [];
  const intents = await inFlight();
  const out: string[] = [];
  for (const id of ids)
    if (!intents.has(id) && (await readOutboxEntry(relational, id)) === undefined) out.push(id);
  return out;
}

/**
 * Logged sync-2pc intents (none on a store without an intent log): their records' index rows may be ahead of SQL
 * until the write commits or recovery rolls it back.
 */
export async function openIntents(relational: RelationalStore): Promise<TwoPhaseIntent[]> {
  if (!hasIntentLog(relational)) return [];
  return relational.listExpiredIntents(Number.MAX_SAFE_INTEGER, 10_000);
}

/** The record ids of the {@link openIntents}. */
export async function openIntentIds(relational: RelationalStore): Promise<Set<string>> {
  return new Set((await openIntents(relational)).map((intent) => intent.recordId));
}
