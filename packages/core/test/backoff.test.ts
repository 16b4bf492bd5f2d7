import { describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  PermanentBackendError,
  TransientBackendError,
  ValidationError,
} from '../src/errors.js';
import { backoffDelay, classifyFailure } from '../src/index.js';

describe('backoffDelay', () => {
  const top = () => 0.999_999;
  it('grows exponentially up to maxMs (no jitter)', () => {
    const o = { baseMs: 100, factor: 2, maxMs: 1_000, jitter: 'none' as const };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, o))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });
  it('full jitter stays within [0, exponential delay]', () => {
    const o = { baseMs: 100, factor: 2, maxMs: 10_000, jitter: 'full' as const };
    expect(backoffDelay(3, o, undefined, () => 0)).toBe(0);
    expect(backoffDelay(3, o, undefined, top)).toBe(400);
    expect(backoffDelay(3, o, undefined, () => 0.5)).toBe(200);
  });
  it('equal jitter keeps at least half', () => {
    const o = { baseMs: 100, factor: 2, maxMs: 10_000, jitter: 'equal' as const };
    expect(backoffDelay(2, o, undefined, () => 0)).toBe(100);
  });
  it('honours Retry-After as a floor', () => {
    expect(backoffDelay(1, { baseMs: 10, jitter: 'none' }, 5_000)).toBe(5_000);
    expect(backoffDelay(1, { baseMs: 10_000, jitter: 'none' }, 5)).toBe(10_000);
  });
});

describe('classifyFailure', () => {
  it.each([
    [new BackendUnavailableError('down'), 'outage'],
    [new TransientBackendError('500', { status: 500 }), 'transient'],
    [new TransientBackendError('429', { status: 429 }), 'throttled'],
    [new TransientBackendError('x', { retryAfterMs: 10 }), 'throttled'],
    [new PermanentBackendError('400', { status: 400 }), 'permanent'],
    [new ValidationError('f', 'bad'), 'permanent'],
    [new Error('socket hang up'), 'transient'],
  ])('%s → %s', (error, expected) => {
    expect(classifyFailure(error)).toBe(expected);
  });
});
