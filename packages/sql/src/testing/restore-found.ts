import assert from 'node:assert/strict';
import {
  createDualWrite,
  type DualWrite,
  HashingEmbedder,
  type RelationalStore,
  type VectorStore,
  verifyConsistency,
} from '@dualwrite/core';

/** What {@link checkRestoreFound} needs of a dialect. */
export interface RestoreFixture {
  /** A new store on an empty database (or schema) of the test's. */
  relational: RelationalStore;
  /** A new, empty index of dimension 16 (`vector.getRecords` is required). */
  vector: VectorStore;
  /** Backs the database up with the dialect's own tool (`pg_dump`, `mariadb-dump`, a file copy). */
  backup(): Promise<void>;
  /** Restores that backup over the database, under the running process. */
  restore(): Promise<void>;
  /**
   * Whether the backup is taken before the check that precedes the restore, or since it. `across`: since it, and
   * the state the backup lost is a transaction's that drew its version before that check and committed after the
   * backup (dialects with concurrent writers only: SQLite's one writer blocks the writes this runs meanwhile).
   */
  taken: 'before' | 'since' | 'across';
}

/**
 * A source of truth restored from a backup under a running process, the backup having lost updates of older
 * records (beyond the 32 most recent acknowledgements), then written until its sequence is past the index's
 * highest version: the next `checkIndex()` reports an `index-drift` — by the index checkpoint when the backup is
 * older than the previous check (`taken: 'before'`), by the rows the index took since that check otherwise — and
 * the repair leaves the index equal to the restored source.
 *
 * Closes the facade (and the stores); the fixture's database is the caller's to drop.
 * @throws an `AssertionError` on a violation.
 */
export async function checkRestoreFound(fixture: RestoreFixture): Promise<void> {
  const { relational, vector, taken } = fixture;
  const dw = await createDualWrite({
    relational,
    vector,
    embedder: new HashingEmbedder({ dimension: 16 }),
    strategy: 'batch',
    driftCheck: false, // checks run when asked
  });
  try {
    const drifts: string[] = [];
    dw.events.on('index-drift', (d) => drifts.push(d.reason));
    const put = (prefix: string, n: number, text: string) =>
      dw.putMany(Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, text: `${text} ${i}` })));
    await put('old', 5, 'original');
    await put('recent', 40, 'recent');
    await dw.flush();
    // Two checks: the look-up of recent acknowledgements starts above the older records from the second on.
    for (let check = 0; check < 2; check++) assert.equal(await dw.checkIndex(), null, 'no drift before');
    if (taken === 'across') await backupAcrossOpenTransaction(dw, fixture);
    else {
      await fixture.backup();
      await put('old', 5, 'updated after the backup');
      await dw.flush();
      if (taken === 'before') assert.equal(await dw.checkIndex(), null, 'a check after the backup passes');
    }
    await fixture.restore();
    await put('new', 8, 'written after the restore'); // the sequence moves past the index's highest version
    await dw.flush();
    await dw.checkIndex();
    assert.match(
      drifts.join('\n'),
      {
        before: /above the \d+ this source stamped or meant to/,
        since: /5 of the \d+ rows it took since/,
        across: /1 of the \d+ rows it took since the previous check ahead of the source of truth \("old-2"/,
      }[taken],
      'the restore is found',
    );
    await dw.flush({ timeoutMs: 30_000 });
    const report = await verifyConsistency(relational, vector);
    assert.deepEqual(
      [report.lost, report.stale, report.mismatched, report.orphans],
      [0, 0, 0, 0],
      'lost, stale, mismatched, orphans after the repair',
    );
    const rows = await vector.getRecords!(['old-2']);
    assert.equal(rows.get('old-2')?.text, 'original 2', 'the restored state is what the index holds');
  } finally {
    await dw.close({ drain: false });
  }
}

/**
 * helper-50: a transaction draws its version, writes taken and delivered meanwhile pass a check, the backup is
 * taken, then the transaction commits and is delivered — below the highest version that check compared.
 */
async function backupAcrossOpenTransaction(dw: DualWrite, fixture: RestoreFixture): Promise<void> {
  let commit = () => {};
  const held = new Promise<void>((resolve) => {
    commit = resolve;
  });
  let drawn = () => {};
  const versionDrawn = new Promise<void>((resolve) => {
    drawn = resolve;
  });
  const transaction = dw.transaction(async (uow) => {
    await uow.put({ id: 'old-2', text: 'updated in a transaction open across a check' });
    drawn();
    await held;
  });
  try {
    await versionDrawn;
    await dw.putMany(Array.from({ length: 5 }, (_, i) => ({ id: `during-${i}`, text: `during ${i}` })));
    // Not `flush`: it waits for the open transaction.
    while ((await dw.syncStatus('during-4')).state !== 'synced') await new Promise((r) => setTimeout(r, 20));
    assert.equal(await dw.checkIndex(), null, 'a check with the transaction open passes');
    await fixture.backup();
  } finally {
    commit();
    await transaction;
  }
  await dw.flush();
  assert.equal((await dw.syncStatus('old-2')).state, 'synced');
}
