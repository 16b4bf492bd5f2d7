import type { RelationalStore } from '../contracts/relational-store.js';
import type { VectorStore } from '../contracts/vector-store.js';
import type { SyncedVersion } from '../record/types.js';
import { settledRecords } from './settled-records.js';

/** Most dead letters one index look-up remembers for the next: the first by record id. */
export const WATCHED_DEAD_LETTERS_MAX = 1_000;

/**
 * The dead letters one index look-up saw, looked up at the next once acknowledged. A dead letter requeued (by
 * any process) and delivered between two look-ups is acknowledged at its own, older version — below where the
 * next look-up's `recentlySynced` page starts — so without this, a copy of the index taken before that delivery
 * and restored after it would hide the lost write.
 */
export class DeadLetterWatch {
  #watched: readonly string[] = [];

  /** The ids of today's dead letters (at most {@link WATCHED_DEAD_LETTERS_MAX}), for {@link watch}. */
  async current(relational: RelationalStore): Promise<string[]> {
    const entries = await relational.listDeadLetters({ limit: WATCHED_DEAD_LETTERS_MAX });
    return entries.map((entry) => entry.recordId);
  }

  /** Remembers `ids` (from {@link current}, read before a look-up that passed) for the next look-up. */
  watch(ids: readonly string[]): void {
    this.#watched = ids;
  }

  /**
   * The watched ids since acknowledged at their record's current version and settled: live, `syncedVersion`
   * equal to `version` (a dead letter never acknowledged at its version has a lower one), no outbox entry.
   */
  async acknowledged(relational: RelationalStore): Promise<SyncedVersion[]> {
    const settled = await settledRecords(relational, this.#watched);
    return [...settled.values()]
      .filter((record) => record.syncedVersion === record.version)
      .map((record) => ({ id: record.id, syncedVersion: record.version }));
  }
}

/** Most dead letters the row count looks up in the index, a page of {@link WATCHED_DEAD_LETTERS_MAX} at a time. */
export const COUNTED_DEAD_LETTERS_MAX = 10_000;

/**
 * How `deadLetters` dead letters move the index's expected row count: `absent`, the dead-lettered writes whose row
 * the index lacks (a record that may be missing from it); `heldDeletes`, the dead-lettered deletes whose row it
 * still holds (a row beyond the live records). Looked up for up to {@link COUNTED_DEAD_LETTERS_MAX}; each one
 * beyond counts as absent. Before, every dead letter allowed one row fewer: a dead-lettered update of a record the
 * index holds, or a dead-lettered delete whose row it holds, hid a lost delete of another record (helper-50,
 * helper-51).
 */
export async function deadLetterRows(
  relational: RelationalStore,
  vector: VectorStore,
  deadLetters: number,
): Promise<{ absent: number; heldDeletes: number }> {
  let [absent, heldDeletes, listed] = [0, 0, 0];
  let after: string | undefined;
  while (listed < Math.min(deadLetters, COUNTED_DEAD_LETTERS_MAX)) {
    const page = await relational.listDeadLetters({ after, limit: WATCHED_DEAD_LETTERS_MAX });
    if (page.length === 0) break;
    const held = await vector.getVersions(page.map((e) => e.recordId));
    for (const entry of page) {
      if (entry.op === 'delete') heldDeletes += held.has(entry.recordId) ? 1 : 0;
      else absent += held.has(entry.recordId) ? 0 : 1;
    }
    listed += page.length;
    after = page[page.length - 1]!.recordId;
    if (page.length < WATCHED_DEAD_LETTERS_MAX) break;
  }
  return { absent: absent + Math.max(0, deadLetters - listed), heldDeletes };
}
