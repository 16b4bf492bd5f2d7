import { IndexBindingError } from '@dualwrite/core';
import { describe, expect, it } from 'vitest';
import { startErrorMessage } from '../src/index.js';

/** What a refused start tells the operator to do about an index binding that is not this configuration's. */
describe('startErrorMessage', () => {
  const bound = { collection: 't1', embedder: 'hashing-v1:8' };
  it('points at the rebind setting, and at the operator CLI for another index (also from a process without an embedder)', () => {
    const message = startErrorMessage(
      new IndexBindingError(['collection'], bound, { ...bound, collection: 't2', embedder: null }),
    );
    expect(message).toContain('--index-binding rebind');
    expect(message).toContain('dualwrite reconcile --index-binding rebind');
  });

  it('does not send an embedder change to the operator CLI, which runs no embedder', () => {
    const message = startErrorMessage(
      new IndexBindingError(['embedder'], bound, { ...bound, embedder: 'other:8' }),
    );
    expect(message).toContain('--index-binding rebind');
    expect(message).not.toContain('dualwrite reconcile');
    expect(message).toContain('the operator CLI runs no embedder');
  });

  it('suggests no rebind to a process without an embedder (it cannot take the binding over)', () => {
    const message = startErrorMessage(
      new IndexBindingError(['embedder'], bound, { ...bound, embedder: null }),
    );
    expect(message).toContain('configure that embedder here');
    expect(message).not.toContain('--index-binding rebind');
  });
});
