import { describe, expect, it } from 'vitest';
import type { IntentCommit } from '../src/contracts/relational-store.js';
import { ConflictError } from '../src/errors.js';
import { type CommitFacts, commitStep } from '../src/write/two-phase.js';

const write: IntentCommit = {
  token: 't',
  next: {
    id: 'a',
    text: 'new',
    embedding: [1, 0],
    metadata: {},
    version: 10,
    deleted: false,
    contentHash: 'h',
    syncedVersion: null,
    now: 1,
  },
  op: 'upsert',
  previousVersion: 7,
  contended: false,
};
/** Nothing raced: the intent was ours, the record still at the version read at prepare, nothing queued. */
const clean: CommitFacts = {
  ours: true,
  current: { version: 7, deleted: false, syncedVersion: 7 },
  queued: false,
  otherIntents: 0,
};
const options = { now: 5, deferred: false };

describe("sync-2pc's commit rule (commitStep)", () => {
  it('marks the write synced when nothing can have raced the vector write', () => {
    expect(commitStep(write, clean, options)).toEqual({
      record: { ...write.next, syncedVersion: 10, now: 5 },
      enqueue: undefined,
    });
  });

  it.each([
    ['the id had an outbox entry at prepare', {}, { contended: true }, {}],
    ['the record moved since prepare', { current: { version: 8, deleted: false, syncedVersion: 8 } }, {}, {}],
    ['the record appeared since prepare', {}, { previousVersion: null }, {}],
    ['an outbox entry appeared since prepare', { queued: true }, {}, {}],
    ["another writer's intent exists", { otherIntents: 1 }, {}, {}],
    ['the vector write was deferred', {}, {}, { deferred: true }],
  ])('writes the row unsynced and enqueues it when %s', (_, facts, change, opts) => {
    const step = commitStep({ ...write, ...change }, { ...clean, ...facts }, { ...options, ...opts });
    const current = { ...clean, ...facts }.current;
    expect(step.record).toEqual({ ...write.next, syncedVersion: current?.syncedVersion, now: 5 });
    expect(step.enqueue).toEqual({ version: 10, op: 'upsert' });
  });

  it('refuses a write whose intent recovery resolved, whatever the record holds now', () => {
    for (const current of [clean.current, { version: 11, deleted: false, syncedVersion: 11 }, undefined])
      expect(() => commitStep(write, { ...clean, ours: false, current }, options)).toThrow(ConflictError);
  });

  it('only enqueues the current state of a record a concurrent writer moved past the write (a newer delete too)', () => {
    for (const deleted of [false, true])
      expect(
        commitStep(write, { ...clean, current: { version: 11, deleted, syncedVersion: 7 } }, options),
      ).toEqual({ record: undefined, enqueue: { version: 11, op: deleted ? 'delete' : 'upsert' } });
  });

  it('keeps a new record unsynced (syncedVersion null) when it must be enqueued', () => {
    const step = commitStep(
      { ...write, previousVersion: null },
      { ...clean, current: undefined, queued: true },
      options,
    );
    expect(step.record?.syncedVersion).toBeNull();
    expect(step.enqueue).toEqual({ version: 10, op: 'upsert' });
  });
});
