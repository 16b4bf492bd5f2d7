import type { OutboxEntry } from '../contracts/outbox.js';
import { readOutboxEntry } from '../contracts/relational-operations.js';
import type { RelationalStore } from '../contracts/relational-store.js';
import { TimeoutError } from '../errors.js';
import type { Clock } from '../util/clock.js';

/**
 * Waits until none of `ids` has a pending outbox entry (each is synced, or dead-lettered).
 * @param waitForProgress - resolves at the next delivery or after the given ms (the drainer's signal).
 * @returns the dead-lettered entries among `ids` (empty when every one was delivered).
 * @throws {TimeoutError} after `timeoutMs` ms; the entries stay in the outbox.
 */
export async function awaitDelivery(
  relational: RelationalStore,
  ids: readonly string[],
  clock: Clock,
  waitForProgress: (ms: number) => Promise<void>,
  timeoutMs: number,
): Promise<OutboxEntry[]> {
  const deadline = clock.now() + timeoutMs;
  let waiting = [...new Set(ids)];
  const dead: OutboxEntry[] = [];
  for (;;) {
    const still: string[] = [];
    for (const id of waiting) {
      const entry = await readOutboxEntry(relational, id);
      if (entry?.state === 'pending') still.push(id);
      else if (entry?.state === 'dead') dead.push(entry);
    }
    waiting = still;
    if (waiting.length === 0) return dead;
    const left = deadline - clock.now();
    if (left <= 0) throw new TimeoutError(`waiting for ${waiting.length} record(s) to sync`, timeoutMs);
    await waitForProgress(Math.min(left, 50));
  }
}
