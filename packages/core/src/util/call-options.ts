import { ValidationError } from '../errors.js';
import { type OptionKeys, refuseUnknownKeys } from './option-keys.js';

/**
 * The `timeoutMs` option of a call: `fallback` when absent, otherwise a finite number of ms, 0 or more (0: do
 * not wait for anything that is not already done).
 * @throws {ValidationError} naming `field` for anything else (`NaN`, `Infinity`, a string, a negative number).
 */
export function timeoutOption(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new ValidationError(
      field,
      `is ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
      { limit: 'a finite number of ms, >= 0' },
    );
  return value;
}

/**
 * The options object of a call: `{}` when absent. A key the call does not take is refused rather than ignored
 * (`flush({ timeout: 5000 })` would otherwise wait the default 30 s; `search(q, { filters })` would drop the
 * filter and return records it was meant to exclude).
 * @param known - the call's option keys (see {@link OptionKeys}).
 * @throws {ValidationError} on field `options` for anything but an object, or `options.<key>` for a key not in
 *   `known` (suggesting the key it resembles).
 */
export function optionsObject<T extends object>(
  value: T | undefined | null,
  known: OptionKeys<T>,
): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ValidationError('options', `is ${value === null ? 'null' : typeof value}`, {
      limit: 'an object',
    });
  refuseUnknownKeys(value, known, 'options');
  return value;
}
