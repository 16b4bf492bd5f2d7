import assert from 'node:assert/strict';
import {
  createDualWrite,
  HashingEmbedder,
  type RelationalStore,
  type SyncStatus,
  verifyConsistency,
} from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing/stores';

/** What {@link checkRecordsLockedDuringDelivery} needs of a dialect. */
export interface LockedDuringDeliveryFixture {
  /** A new store on an empty database (or schema) of the test's: `lockTimeoutMs` 300, a pool of two connections. */
  relational: RelationalStore;
  /**
   * Holds every row of the store's records table from another session (`SELECT … FOR UPDATE` in an open
   * transaction) until the function it resolves to is called.
   */
  lockRecords(): Promise<() => Promise<void>>;
  /**
   * Whether a write of another, new id goes through while the rows are held (PostgreSQL: yes; MySQL's
   * `FOR UPDATE` over the whole table also locks the gaps, so an insert waits for it).
   */
  writesBesideLockedRows: boolean;
}

const DIM = 8;

/**
 * An async-queue facade over `relational` and `vector` whose embedder fills what a write leaves out, without the
 * periodic checks; `options` add to (or override) that.
 */
function embeddingFacade(
  relational: RelationalStore,
  vector: MemoryVectorStore,
  options: Partial<Parameters<typeof createDualWrite>[0]> = {},
) {
  return createDualWrite({
    relational,
    vector,
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy: 'async-queue',
    driftCheck: false,
    ...options,
  });
}

/**
 * Another session holds the records' rows while delivery embeds records written without an embedding and stores
 * each embedding back on its row: each try gives up after the store's lock timeout — a fault of the store, not of
 * the records — so nothing is charged (`maxAttempts: 2` would dead-letter them), the pool stays usable for other
 * writes, and every record is delivered once the rows are free; `markSynced` gives up after the lock timeout too.
 * Before, each try was charged and acknowledged writes were dead-lettered (MariaDB, helper-67); on PostgreSQL
 * storing an embedding back waited as long as the rows were held, each wait holding a pool connection, and the
 * application's writes failed to connect (helper-68); `markSynced` waited until the rows were free.
 *
 * Closes the facade (and the store); the fixture's database is the caller's to drop.
 * @throws an `AssertionError` on a violation.
 */
export async function checkRecordsLockedDuringDelivery(fixture: LockedDuringDeliveryFixture): Promise<void> {
  const { relational } = fixture;
  const vector = new MemoryVectorStore({ dimension: DIM });
  const dw = await embeddingFacade(relational, vector, { delivery: { maxAttempts: 2, pollIntervalMs: 20 } });
  try {
    const ids = Array.from({ length: 6 }, (_, i) => `r${i}`);
    dw.pause();
    for (const id of ids) await dw.put({ id, text: `text of ${id}` }); // no embedding: delivery embeds it
    const errors: string[] = [];
    dw.events.on('drain-error', (e) => errors.push(e.error));
    const release = await fixture.lockRecords();
    let released: Promise<void> | undefined;
    const unlock = () => (released ??= release());
    let during: SyncStatus[];
    let marked: string | undefined;
    try {
      dw.resume();
      // Long enough for several tries, each waiting out the 300 ms lock timeout.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      if (fixture.writesBesideLockedRows)
        await dw.put({
          id: 'beside',
          text: 'written while the rows are held',
          embedding: Array(DIM).fill(0.5),
        });
      during = await Promise.all(ids.map((id) => dw.syncStatus(id)));
      // A lone row write of the store's own (core does not call it: an operator's tool) gives up the same way.
      // Had it waited for the rows instead, it would succeed once they are free: they are freed after 10 s.
      if (relational.markSynced) {
        const marking = relational.markSynced(ids[0]!, 1).then(
          () => 'waited for the rows',
          (error: { code?: string }) => error.code,
        );
        const settled = await Promise.race([
          marking,
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000)),
        ]);
        if (settled === undefined) await unlock();
        marked = settled ?? (await marking);
      }
    } finally {
      await unlock();
    }
    for (const status of during)
      assert.deepEqual(
        status.state === 'pending' ? { state: status.state, attempts: status.attempts } : status,
        { state: 'pending', attempts: 0 },
        `${status.id}: nothing charged while its row was held`,
      );
    assert.ok(errors.length > 0, 'the lock was met (reported as the drain’s error), not avoided');
    if (marked !== undefined)
      assert.equal(marked, 'TRANSIENT_BACKEND', 'markSynced gave up after the lock timeout');
    const flushed = await dw.flush({ timeoutMs: 20_000 });
    assert.deepEqual(
      [flushed.pending, flushed.deadLetters],
      [0, 0],
      'all delivered after the lock, none dead',
    );
    for (const id of ids) assert.equal((await dw.syncStatus(id)).state, 'synced', id);
    const report = await verifyConsistency(relational, vector);
    assert.deepEqual([report.lost, report.stale, report.mismatched], [0, 0, 0], 'index equals the source');
  } finally {
    await dw.close();
  }
}

/** What {@link checkHeldRowsHoldUpNoOtherWrites} needs of a dialect. */
export interface HeldRowsFixture {
  /** The delivering process's store on an empty database (or schema) of the test's: `lockTimeoutMs` 3,000. */
  relational: RelationalStore;
  /** The application's store on the same tables, with a much shorter lock timeout (`lockTimeoutMs` 1,000 or less). */
  writer: RelationalStore;
  /** Holds the rows of `ids` from another session (`SELECT … FOR UPDATE`) until the function it resolves to is called. */
  lockRows(ids: readonly string[]): Promise<() => Promise<void>>;
}

/**
 * Another session holds two records' rows while delivery embeds a claim of ten and stores the embeddings back: the
 * application keeps writing the claim's other eight ids meanwhile, through a store whose lock timeout is shorter
 * than the delivering one's, and none of those writes fails — the rows held elsewhere hold up only their own ids.
 * Before, storing the claim's embeddings back took every id's lock and then waited for the held rows, so writes of
 * the other ids waited out the delivering store's lock timeout and failed on their own (a break-it round on
 * PostgreSQL and MariaDB: 8 of 8 such writes failed). Every record is delivered once the rows are free.
 *
 * Closes the facade, both stores; the fixture's database is the caller's to drop.
 * @throws an `AssertionError` on a violation.
 */
export async function checkHeldRowsHoldUpNoOtherWrites(fixture: HeldRowsFixture): Promise<void> {
  const { relational, writer } = fixture;
  const vector = new MemoryVectorStore({ dimension: DIM });
  const dw = await embeddingFacade(relational, vector, { delivery: { pollIntervalMs: 20 } });
  const app = await embeddingFacade(writer, vector, { deliver: false });
  try {
    const ids = Array.from({ length: 10 }, (_, i) => `h${i}`);
    dw.pause();
    for (const id of ids) await dw.put({ id, text: `text of ${id}` }); // no embedding: delivery embeds it
    const unlock = await fixture.lockRows(ids.slice(0, 2));
    const failures: string[] = [];
    try {
      dw.resume();
      const until = Date.now() + 4_000;
      for (let round = 0; Date.now() < until; round++)
        for (const id of ids.slice(2))
          await app
            .put({ id, text: `${id}, rewritten ${round}`, embedding: Array(DIM).fill(0.25 + round / 1_000) })
            .catch((error: { code?: string; message?: string }) => {
              failures.push(`${id}: ${error.code} ${error.message}`);
            });
    } finally {
      await unlock();
    }
    assert.deepEqual(failures, [], 'no write of an id whose row nobody holds failed');
    const flushed = await dw.flush({ timeoutMs: 20_000 });
    assert.deepEqual(
      [flushed.pending, flushed.deadLetters],
      [0, 0],
      'all delivered after the lock, none dead',
    );
    const report = await verifyConsistency(relational, vector);
    assert.deepEqual([report.lost, report.stale, report.mismatched], [0, 0, 0], 'index equals the source');
  } finally {
    await app.close();
    await dw.close();
  }
}
