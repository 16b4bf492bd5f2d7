/**
 * The contract suite must catch broken adapters. Each store below is the real SQLite store with one
 * deliberate bug; the checks that cover the broken clause must reject, and pass on the healthy store.
 */
import type { ClaimOptions, OutboxFailure, OutboxLease, RecordVersion, RelationalTx } from '@dualwrite/core';
import { type RelationalStoreCheckName, relationalStoreChecks } from '@dualwrite/core/testing';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { SqliteRelationalStore } from '../src/index.js';
import type { SqliteKysely, SqliteRelationalStoreOptions } from '../src/sqlite-relational-store-options.js';
import { sqliteFactory } from './helpers.js';

/** Bug: claiming ignores live leases (as if `lease_until` were not checked). */
class LeaseIgnoringStore extends SqliteRelationalStore {
  override async claimOutbox(options: ClaimOptions): Promise<OutboxLease[]> {
    await sql`UPDATE ${sql.table(this.tableNames.outbox)} SET lease_until = NULL`.execute(this.kysely);
    return super.claimOutbox(options);
  }
}

/** Bug: a coalescing enqueue overwrites `enqueuedAt` instead of keeping the oldest undelivered change. */
class EnqueuedAtResettingStore extends SqliteRelationalStore {
  override transaction<T>(fn: (tx: RelationalTx<SqliteKysely>) => Promise<T>): Promise<T> {
    const outbox = sql.table(this.tableNames.outbox);
    return super.transaction((tx) =>
      fn({
        native: tx.native,
        getRecord: (id) => tx.getRecord(id),
        nextVersion: () => tx.nextVersion(),
        writeRecord: (record) => tx.writeRecord(record),
        getOutboxEntry: (id) => tx.getOutboxEntry(id),
        countIntents: (id) => tx.countIntents!(id),
        putIntent: (intent) => tx.putIntent!(intent),
        deleteIntent: (token) => tx.deleteIntent!(token),
        async enqueue(recordId, version, op, now) {
          await tx.enqueue(recordId, version, op, now);
          await sql`UPDATE ${outbox} SET enqueued_at = ${now} WHERE record_id = ${recordId}`.execute(
            tx.native,
          );
        },
      }),
    );
  }
}

/** Bug: `maxAttempts` is ignored, so failing entries retry forever. */
class NeverDeadStore extends SqliteRelationalStore {
  override failOutbox(failure: OutboxFailure): Promise<'retry' | 'dead' | 'lease-lost'> {
    return super.failOutbox({ ...failure, maxAttempts: Number.MAX_SAFE_INTEGER });
  }
}

/** Bug: pages sorted in JavaScript (UTF-16 code units) instead of code point / byte order. */
class Utf16OrderStore extends SqliteRelationalStore {
  override async listVersions(options: { after?: string; limit: number }): Promise<RecordVersion[]> {
    const all = await super.listVersions({ limit: 10_000 });
    return all
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .filter((v) => options.after === undefined || v.id > options.after)
      .slice(0, options.limit);
  }
}

type StoreClass = new (options: SqliteRelationalStoreOptions) => SqliteRelationalStore;

const cases: { bug: string; Store: StoreClass; caughtBy: RelationalStoreCheckName[] }[] = [
  {
    bug: 'claimOutbox ignores live leases',
    Store: LeaseIgnoringStore,
    caughtBy: [
      'two claims never return the same entry while its lease is live',
      'an expired lease is claimable again and the old token can no longer ack, fail or release',
    ],
  },
  {
    bug: 'enqueue resets enqueuedAt of a pending entry',
    Store: EnqueuedAtResettingStore,
    caughtBy: [
      'enqueue coalesces to one entry per id: version and op replaced, enqueuedAt kept, attempts reset',
    ],
  },
  {
    bug: 'failOutbox ignores maxAttempts',
    Store: NeverDeadStore,
    caughtBy: ['failOutbox dead-letters once maxAttempts are charged'],
  },
  {
    bug: 'listVersions orders by UTF-16 code units',
    Store: Utf16OrderStore,
    caughtBy: ['listVersions and listRecords page in code point order with after and limit'],
  },
];

describe('the RelationalStore suite catches broken adapters', () => {
  for (const { bug, Store, caughtBy } of cases) {
    for (const name of caughtBy) {
      it(`${bug} → fails "${name}"`, async () => {
        await expect(relationalStoreChecks[name](sqliteFactory((o) => new Store(o)))).rejects.toThrow();
      });
    }
  }

  it('the same checks pass on the healthy store', async () => {
    const names = new Set(cases.flatMap((c) => c.caughtBy));
    for (const name of names) await relationalStoreChecks[name](sqliteFactory());
  });
});
