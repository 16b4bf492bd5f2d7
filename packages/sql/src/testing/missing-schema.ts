import assert from 'node:assert/strict';
import { BackendUnavailableError, type Change } from '@dualwrite/core';
import { inSchema } from '../sql-migrations.js';
import type { SqlStoreUnderTest } from './newer-release.js';

/** What {@link checkMissingSchema} needs of a dialect. */
export interface MissingSchemaFixture {
  /** A new, not yet initialised store of this release on an empty database (or schema) of the test's. */
  open(): SqlStoreUnderTest | Promise<SqlStoreUnderTest>;
  /** PostgreSQL: the schema of the tables. */
  schema?: string;
}

const NOW = 1_700_000_000_000;
const PUT: Change = { op: 'put', record: { id: 'a', text: 't', metadata: {}, embedding: [1, 0] } };

/** Runs `call`, which must fail with a `BackendUnavailableError` telling to call `init()`. */
async function refusedForSchema(what: string, call: () => Promise<unknown>): Promise<void> {
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(
    error instanceof BackendUnavailableError,
    `${what} without the store's schema must fail with a BackendUnavailableError, got ${String(error)}`,
  );
  assert.match(error.message, /call init\(\)/, `${what}: the message says what to do`);
}

/**
 * A store used before `init()` created its schema, and one whose records table an operator dropped: reads,
 * writes (the fast path and the transaction path) and claims fail with a `BackendUnavailableError` whose message
 * says to call `init()` — not the driver's raw "no such table" / `42P01` / `ER_NO_SUCH_TABLE` — and after `init()`
 * the same writes succeed.
 *
 * Closes the store it opens; the fixture's database is the caller's to drop.
 * @throws an `AssertionError` on a violation.
 */
export async function checkMissingSchema(fixture: MissingSchemaFixture): Promise<void> {
  const store = await fixture.open();
  try {
    await refusedForSchema('getRecords', () => store.getRecords(['a']));
    if (store.writeChanges) await refusedForSchema('writeChanges', () => store.writeChanges!([PUT], NOW));
    await refusedForSchema('transaction', () => store.transaction((tx) => tx.getRecord('a')));
    await refusedForSchema('claimOutbox', () =>
      store.claimOutbox({ owner: 'w', limit: 10, leaseMs: 1_000, now: NOW }),
    );
    await store.init();
    if (store.writeChanges) assert.equal((await store.writeChanges([PUT], NOW))[0]!.changed, true);
    assert.equal((await store.getRecords(['a'])).get('a')?.text, 't');
    await inSchema(store.kysely, fixture.schema).schema.dropTable(store.tableNames.records).execute();
    await refusedForSchema('getRecords after the records table was dropped', () => store.getRecords(['a']));
  } finally {
    await store.close();
  }
}
