import { TimeoutError } from '../errors.js';
import type { Clock } from './clock.js';

/**
 * `promise`, or a {@link TimeoutError} (`what`, `timeoutMs`) once the clock reaches `deadline` (Unix ms) first.
 * The promise keeps running; only the wait is bounded. A deadline already reached still gives `promise` one
 * turn of the event loop, so work that is already done (nothing in flight) is not reported as timed out.
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
      (deadline > clock.now()
        ? clock.sleep(deadline - clock.now(), timer.signal)
        : new Promise<void>((resolve) => setImmediate(resolve))
      ).then(() => expired),
    ]);
    if (outcome === expired) throw new TimeoutError(what, timeoutMs);
    return outcome as T;
  } finally {
    timer.abort();
  }
}
