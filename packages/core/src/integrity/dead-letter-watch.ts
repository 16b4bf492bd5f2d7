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

/**
 * Of `deadLetters` dead letters, how many the index may lack a row for: those whose id it does not hold (looked up
 * when they are at most {@link WATCHED_DEAD_LETTERS_MAX}; every one beyond what one listing returns counts). A
 * dead-lettered update of a record the index holds takes no row away; counting it hid a lost delete of another
 * record from the row count (helper-50).
 */
export async function deadLettersAbsentFromIndex(
  relational: RelationalStore,
  vector: VectorStore,
  deadLetters: number,
): Promise<number> {
  if (deadLetters === 0) return 0;
  const listed = await relational.listDeadLetters({ limit: WATCHED_DEAD_LETTERS_MAX });
  const held = listed.length === 0 ? new Map() : await vector.getVersions(listed.map((e) => e.recordId));
  const absent = listed.filter((entry) => !held.has(entry.recordId)).length;
  return absent + Math.max(0, deadLetters - listed.length);
}
