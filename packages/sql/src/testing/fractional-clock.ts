import assert from 'node:assert/strict';
import { createDualWrite, systemClock } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing/stores';
import type { SqlStoreUnderTest } from './newer-release.js';

/** What {@link checkFractionalClock} needs of a dialect. */
export interface FractionalClockFixture {
  /** A new store of this release on the test's database (or schema); two calls reach the same data. */
  open(): SqlStoreUnderTest | Promise<SqlStoreUnderTest>;
}

const IDS = ['a', 'b', 'c'];

/**
 * A facade on a caller's clock that counts fractions of a millisecond (`performance.timeOrigin +
 * performance.now()`) writes, delivers and acknowledges in whole ms, and another store on the same data reads
 * what it wrote. Before, PostgreSQL refused every write (`invalid input syntax for type bigint`) and SQLite stored
 * REAL times that every other process then failed to read ("integer out of range"), its deliveries included.
 *
 * Closes the stores it opens; the fixture's database is the caller's to drop.
 * @throws an `AssertionError` on a violation.
 */
export async function checkFractionalClock(fixture: FractionalClockFixture): Promise<void> {
  const store = await fixture.open();
  const dw = await createDualWrite({
    relational: store,
    vector: new MemoryVectorStore({ dimension: 2 }),
    strategy: 'async-queue',
    driftCheck: false,
    clock: { now: () => performance.timeOrigin + performance.now(), sleep: systemClock.sleep },
  });
  try {
    for (const id of IDS) await dw.put({ id, text: `text of ${id}`, embedding: [1, 0] });
    await dw.flush({ timeoutMs: 10_000 });
  } finally {
    await dw.close();
  }
  const other = await fixture.open();
  try {
    await other.init();
    const records = await other.getRecords(IDS);
    assert.equal(records.size, IDS.length, 'another store reads every record the facade wrote');
    for (const record of records.values()) {
      assert.ok(Number.isInteger(record.updatedAt), `updatedAt ${record.updatedAt} is whole ms`);
      assert.equal(record.syncedVersion, record.version, `${record.id} is acknowledged at its version`);
    }
    assert.equal((await other.outboxStats(Date.now())).depth, 0, 'nothing is left pending');
  } finally {
    await other.close();
  }
}
