import { TimeoutError, ValidationError } from '../errors.js';
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

/**
 * The `timeoutMs` option of a call: `fallback` when absent, a finite number of ms otherwise (a negative one
 * counts as 0).
 * @throws {ValidationError} naming `field` for anything else (`NaN`, `Infinity`, a string).
 */
export function timeoutOption(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new ValidationError(
      field,
      `is ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
      {
        limit: 'a finite number of ms',
      },
    );
  return Math.max(0, value);
}

/**
 * The options object of a call: `{}` when absent.
 * @throws {ValidationError} on field `options` for anything but a plain object.
 */
export function optionsObject<T extends object>(value: T | undefined | null): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ValidationError('options', `is ${value === null ? 'null' : typeof value}`, {
      limit: 'an object',
    });
  return value;
}
