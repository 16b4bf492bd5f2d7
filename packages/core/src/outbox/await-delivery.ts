import { readOutboxEntry } from '../contracts/relational-operations.js';
import type { RelationalStore } from '../contracts/relational-store.js';
import { TimeoutError } from '../errors.js';
import type { Clock } from '../util/clock.js';

/**
 * Waits until none of `ids` has a pending outbox entry (each is synced, or dead-lettered).
 * @param waitForProgress - resolves at the next delivery or after the given ms (the drainer's signal).
 * @throws {TimeoutError} after `timeoutMs` ms; the entries stay in the outbox.
 */
export async function awaitDelivery(
  relational: RelationalStore,
  ids: readonly string[],
  clock: Clock,
  waitForProgress: (ms: number) => Promise<void>,
  timeoutMs: number,
): Promise<void> {
  const deadline = clock.now() + timeoutMs;
  let waiting = [...new Set(ids)];
  for (;;) {
    const still: string[] = [];
    for (const id of waiting) {
      const entry = await readOutboxEntry(relational, id);
      if (entry?.state === 'pending') still.push(id);
    }
    waiting = still;
    if (waiting.length === 0) return;
    const left = deadline - clock.now();
    if (left <= 0) throw new TimeoutError(`waiting for ${waiting.length} record(s) to sync`, timeoutMs);
    await waitForProgress(Math.min(left, 50));
  }
}
