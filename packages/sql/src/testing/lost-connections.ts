import assert from 'node:assert/strict';
import type { SqlStoreUnderTest } from './newer-release.js';

/** What {@link checkLostConnections} needs of a dialect. */
export interface LostConnectionsFixture {
  /** A store of this release, initialised, whose pool holds at most `poolSize` connections. */
  store: SqlStoreUnderTest;
  poolSize: number;
  /**
   * Ends every connection of the store's pool on the server (`pg_terminate_backend`, `KILL CONNECTION`) and
   * resolves to how many it ended. It must answer at once, from a connection opened beforehand: a short-lived
   * one's own close gives the driver the time to read the news, and the check then proves nothing.
   */
  killPool(): Promise<number>;
}

/**
 * The pool's idle connections ended by the server before the driver read it (a restart, a kill, an idle timeout
 * under a burst of work): a transaction (its `BEGIN`) and reads started at once all succeed, on new connections,
 * three rounds in a row. Before, each of them failed with `BackendUnavailableError` while the server was up.
 * @throws an `AssertionError` on a violation (or the store's error).
 */
export async function checkLostConnections(fixture: LostConnectionsFixture): Promise<void> {
  const { store, poolSize } = fixture;
  await store.setMeta('lost-connections', 'kept');
  for (let round = 0; round < 3; round++) {
    // Every pooled connection open and idle.
    await Promise.all(Array.from({ length: poolSize }, () => store.getMeta('lost-connections')));
    assert.equal(await fixture.killPool(), poolSize, `round ${round}: every pooled connection was ended`);
    // A transaction and a read take the dead connections first; more reads follow.
    const [requeued, meta, stats, records] = await Promise.all([
      store.requeueDeadLetters(undefined, Date.now()),
      store.getMeta('lost-connections'),
      store.outboxStats(Date.now()),
      store.getRecords(['missing']),
    ]);
    assert.equal(requeued, 0);
    assert.equal(meta, 'kept');
    assert.equal(stats.depth, 0);
    assert.equal(records.size, 0);
  }
}
