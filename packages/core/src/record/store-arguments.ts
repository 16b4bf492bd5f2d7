import type { RelationalStore } from '../contracts/relational-store.js';
import { ValidationError } from '../errors.js';
import { describeValue } from '../util/describe-value.js';

/** The limit {@link checkStoreTime} and {@link checkStoreVersion} name: what a store's integer columns hold exactly. */
const WHOLE = `an integer in 0..${Number.MAX_SAFE_INTEGER}`;

/**
 * Checks a time argument of a {@link RelationalStore} method (`now`, `retryAt`, `leaseUntil`, `expiresAt`;
 * Unix ms): a whole number of ms in 0..2^53-1, what every store keeps exactly. Core's own calls
 * pass whole ms (its clock rounds a caller's clock down); a direct caller's fraction would otherwise be stored as
 * given where the column takes it — SQLite kept `REAL` times that no later read of the file could turn back into
 * ms, so every read, claim and count of that store failed from then on — rounded where it does not (MySQL), or
 * refused by the server with an untyped error (PostgreSQL).
 * @returns `value`.
 * @throws {ValidationError} naming `field` (with `component`) for anything else: a fraction, a negative
 *   number, NaN, ±Infinity, 2^53 or more, or not a number at all.
 */
export function checkStoreTime(value: unknown, field: string, component?: string): number {
  return checkWhole(value, field, component, 'Unix ms');
}

/**
 * Checks a version argument of a {@link RelationalStore} method (`appliedVersion`, `markSynced`'s `version`, a
 * transaction's `nextVersion(atLeast)`, the versions of `writeRecord`, `enqueue` and `putIntent`): a whole
 * number in 0..2^53-1, as versions are drawn (see {@link checkStoreTime} for what a fraction did).
 * @returns `value`.
 * @throws {ValidationError} naming `field` (with `component`) for anything else.
 */
export function checkStoreVersion(value: unknown, field: string, component?: string): number {
  return checkWhole(value, field, component, 'a version');
}

/**
 * Checks a use mark of the embedding cache (`usedAt`, `usedBefore`, `staleBefore`; Unix ms) as
 * {@link checkStoreTime} does, except that a fraction of a ms is dropped, as the cache's contract has it.
 * @returns the whole ms.
 * @throws {ValidationError} naming `field` for a negative number, NaN, ±Infinity, 2^53 or more, or not a number.
 */
export function checkStoreMark(value: unknown, field: string, component?: string): number {
  return checkWhole(typeof value === 'number' ? Math.floor(value) : value, field, component, 'Unix ms');
}

/**
 * Checks a count argument of a {@link RelationalStore} method that must be at least 1 (`leaseMs`,
 * `failure.maxAttempts`): a whole number in 1..2^53-1.
 * @returns `value`.
 * @throws {ValidationError} naming `field` (with `component`) for anything else.
 */
export function checkStoreCount(value: unknown, field: string, component?: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1) return value;
  throw new ValidationError(
    field,
    `must be an integer in 1..${Number.MAX_SAFE_INTEGER}; got ${describeValue(value)}`,
    {
      component,
      limit: `an integer in 1..${Number.MAX_SAFE_INTEGER}`,
    },
  );
}

function checkWhole(value: unknown, field: string, component: string | undefined, what: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw new ValidationError(field, `must be ${what}, ${WHOLE}; got ${describeValue(value)}`, {
    component,
    limit: WHOLE,
  });
}
