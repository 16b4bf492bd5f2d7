/**
 * Failures are classified by `code`, so an adapter that resolved a second copy of `@dualwrite/core` (whose
 * error classes are other classes) still gets outages paused, not charged.
 */
import { describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  isRetryable,
  PermanentBackendError,
  TransientBackendError,
  ValidationError,
} from '../src/index.js';
import { classifyFailure, retryAfterOf } from '../src/outbox/failure-classification.js';

/** An error as another copy of core builds it: same fields, another class. */
class ForeignError extends Error {
  constructor(
    readonly code: string,
    readonly retryable: boolean,
    extra: { status?: number; retryAfterMs?: number } = {},
  ) {
    super(`[dualwrite] [other-copy] ${code}`);
    Object.assign(this, extra);
  }
}

describe('classifyFailure', () => {
  it('classifies this copy’s errors by class and another copy’s by code alike', () => {
    const cases: [Error, Error, string][] = [
      [new BackendUnavailableError('down'), new ForeignError('BACKEND_UNAVAILABLE', true), 'outage'],
      [new TransientBackendError('5xx'), new ForeignError('TRANSIENT_BACKEND', true), 'transient'],
      [
        new TransientBackendError('429', { status: 429 }),
        new ForeignError('TRANSIENT_BACKEND', true, { status: 429 }),
        'throttled',
      ],
      [new PermanentBackendError('400'), new ForeignError('PERMANENT_BACKEND', false), 'permanent'],
      [new ValidationError('x', 'bad'), new ForeignError('VALIDATION', false), 'permanent'],
    ];
    for (const [ours, theirs, expected] of cases) {
      expect(classifyFailure(ours), ours.message).toBe(expected);
      expect(classifyFailure(theirs), theirs.message).toBe(expected);
      expect(isRetryable(theirs)).toBe(isRetryable(ours));
    }
    expect(retryAfterOf(new ForeignError('BACKEND_UNAVAILABLE', true, { retryAfterMs: 750 }))).toBe(750);
  });

  it('treats unknown errors as transient and never trusts a code it does not know', () => {
    expect(classifyFailure(new Error('socket hang up'))).toBe('transient');
    expect(classifyFailure(new ForeignError('ECONNREFUSED', false))).toBe('transient');
    expect(classifyFailure({ code: 'BACKEND_UNAVAILABLE', retryable: true })).toBe('transient');
    expect(isRetryable(new ForeignError('ECONNREFUSED', true))).toBe(false);
  });
});
