import { TimeoutError } from '../errors.js';
import type { Clock } from './clock.js';

/**
 * `promise`, or a {@link TimeoutError} (`what`, `timeoutMs`) once the clock reaches `deadline` (Unix ms) first.
 * The promise keeps running; only the wait is bounded.
 * @throws {TimeoutError} when the deadline passes first; what `promise` rejects with otherwise.
 */
export async function beforeDeadline<T>(
  clock: Clock,
  promise: Promise<T>,
  deadline: number,
  what: string,
  timeoutMs: number,
): Promise<T> {
  const timer = new AbortController();
  const expired = Symbol('expired');
  try {
    const outcome = await Promise.race([
      promise,
      clock.sleep(Math.max(0, deadline - clock.now()), timer.signal).then(() => expired),
    ]);
    if (outcome === expired) throw new TimeoutError(what, timeoutMs);
    return outcome as T;
  } finally {
    timer.abort();
  }
}
