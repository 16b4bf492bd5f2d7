import type { OutboxEntry } from '../contracts/outbox.js';
import { readOutboxEntry } from '../contracts/relational-operations.js';
import type { RelationalStore } from '../contracts/relational-store.js';
import { TimeoutError } from '../errors.js';
import type { Clock } from '../util/clock.js';

/**
 * Waits until none of `ids` has a pending outbox entry (each is synced, or dead-lettered) — and, with
 * `inFlight`, until none is being written by another writer either.
 * @param waitForProgress - resolves at the next delivery or after the given ms (the drainer's signal); may throw
 *   to end the wait.
 * @param inFlight - the ids among those given that another writer is writing (sync-2pc: an intent is logged).
 *   Read for the ids whose entries are settled, then their entries once more: an id settles only with no writer
 *   in flight at that read and nothing pending after it, so a writer that commits (and enqueues) between the
 *   reads is not missed.
 * @returns the dead-lettered entries among `ids` (empty when every one was delivered).
 * @throws {TimeoutError} after `timeoutMs` ms; the entries stay in the outbox.
 */
export async function awaitDelivery(
  relational: RelationalStore,
  ids: readonly string[],
  clock: Clock,
  waitForProgress: (ms: number) => Promise<void>,
  timeoutMs: number,
  inFlight?: (ids: readonly string[]) => Promise<readonly string[]>,
): Promise<OutboxEntry[]> {
  const deadline = clock.now() + timeoutMs;
  let waiting = [...new Set(ids)];
  const dead: OutboxEntry[] = [];
  /** Reads `of`'s entries: the ids still pending; dead-lettered entries go to `refused`. */
  const pendingAmong = async (of: readonly string[], refused: OutboxEntry[]): Promise<string[]> => {
    const pending: string[] = [];
    for (const id of of) {
      const entry = await readOutboxEntry(relational, id);
      if (entry?.state === 'pending') pending.push(id);
      else if (entry?.state === 'dead') refused.push(entry);
    }
    return pending;
  };
  for (;;) {
    let busyCount = 0;
    const refused: OutboxEntry[] = [];
    const pending = await pendingAmong(waiting, refused);
    let still = pending;
    if (inFlight) {
      const pendingIds = new Set(pending);
      const settled = waiting.filter((id) => !pendingIds.has(id));
      if (settled.length > 0) {
        const busy = new Set(await inFlight(settled));
        busyCount = busy.size;
        refused.length = 0; // read again below, after the in-flight check
        const free = settled.filter((id) => !busy.has(id));
        still = [...pending, ...busy, ...(await pendingAmong(free, refused))];
      }
    }
    dead.push(...refused);
    waiting = still;
    if (waiting.length === 0) return dead;
    const left = deadline - clock.now();
    if (left <= 0)
      throw new TimeoutError(
        `waiting for ${waiting.length} record(s) to sync` +
          (busyCount > 0
            ? ` (${busyCount} delivered, but another writer's write of them is still in flight, or abandoned)`
            : ''),
        timeoutMs,
      );
    await waitForProgress(Math.min(left, 50));
  }
}
