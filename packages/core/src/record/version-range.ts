import type { VectorStore, VersionRange } from '../contracts/vector-store.js';
import { ValidationError } from '../errors.js';

/**
 * The highest record version dualwrite takes from an index as one a source of truth handed out: 2^52, half of
 * the integers a JavaScript number holds exactly. Sources hand out versions one by one from 1 (at a million
 * writes a second, 2^52 lasts 140 years), so an index row above it was written by something else — another tool
 * setting the version column, e.g. to nanosecond timestamps. Moving the source's sequence past such a version
 * (what dualwrite does for an index ahead of a source restored from a backup) would leave the exact integers:
 * two records then got one version and SQLite's reads threw `RangeError` (found by a break-it round). Such rows
 * are deleted and delivered again from the source of truth instead.
 */
export const MAX_TRUSTED_VERSION = 2 ** 52;

/** Whether `version`, read from an index, is beyond any version a source hands out ({@link MAX_TRUSTED_VERSION}). */
export function isForeignVersion(version: number): boolean {
  return !(version <= MAX_TRUSTED_VERSION);
}

/** Most rows one {@link VectorStore.versionsInRange} call returns. */
export const MAX_VERSION_RANGE_LIMIT = 10_000;

/**
 * Checks the argument of {@link VectorStore.versionsInRange}, for the stores that implement it.
 * @throws {ValidationError} on `range.above` / `range.atMost` (not a safe integer) or `range.limit` (not an integer
 *   in 1..{@link MAX_VERSION_RANGE_LIMIT}), with `component` as the error's component.
 */
export function checkVersionRange(range: VersionRange, component: string): void {
  for (const key of ['above', 'atMost'] as const) {
    const bound = range?.[key];
    if ((key === 'above' || bound !== undefined) && !Number.isSafeInteger(bound))
      throw new ValidationError(`range.${key}`, `must be a safe integer, got ${String(bound)}`, {
        component,
        limit: 'safe integer',
      });
  }
  const limit = range.limit;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_VERSION_RANGE_LIMIT)
    throw new ValidationError(
      'range.limit',
      `must be an integer in 1..${MAX_VERSION_RANGE_LIMIT}, got ${limit}`,
      {
        component,
        limit: `1..${MAX_VERSION_RANGE_LIMIT}`,
      },
    );
}
