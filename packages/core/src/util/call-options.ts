import { ValidationError } from '../errors.js';

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
