import assert from 'node:assert/strict';
import { createDualWrite, TransientBackendError } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing/stores';
import { sql } from 'kysely';
import { inSchema } from '../sql-migrations.js';
import type { SqlStoreUnderTest } from './newer-release.js';

/** What {@link checkCaughtDeadlock} needs of a dialect. */
export interface CaughtDeadlockFixture {
  /** A new store (pool of two connections or more) on an empty database (or schema) of the test's. */
  open(): SqlStoreUnderTest | Promise<SqlStoreUnderTest>;
  /** PostgreSQL: the schema of the tables (created by the check when missing). */
  schema?: string;
}

/** What each of the two deadlocking transactions saw. */
interface Outcome {
  /** `'ok'`, or the error the call rejected with. */
  call: unknown;
  /** The error of the statement the callback ran after catching the deadlock; `'ran'` when it ran. */
  after: unknown;
}

/**
 * Two `dw.transaction()`s update two rows of an application table in opposite orders, so the server breaks
 * a deadlock by rolling one back; each callback catches its statement's error, runs one more statement and
 * writes a record. Expected: the winner commits; the victim's later statement and the call itself reject with a
 * retryable `TransientBackendError` (not a `ValidationError` saying a statement ended the transaction), and
 * nothing of the victim's is written — its record is absent and the application's rows hold the winner's
 * updates only (MySQL would have run the later statement in autocommit).
 *
 * Closes the store it opens; the fixture's database is the caller's to drop.
 * @throws an `AssertionError` on a violation.
 */
export async function checkCaughtDeadlock(fixture: CaughtDeadlockFixture): Promise<void> {
  const store = await fixture.open();
  const dw = await createDualWrite({
    relational: store,
    vector: new MemoryVectorStore({ dimension: 3 }),
    strategy: 'async-queue',
    driftCheck: false,
  });
  try {
    if (fixture.schema !== undefined)
      await store.kysely.schema.createSchema(fixture.schema).ifNotExists().execute();
    const scoped = inSchema(store.kysely, fixture.schema);
    await scoped.schema
      .createTable('app_counters')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('n', 'integer', (c) => c.notNull())
      .execute();
    await scoped
      .insertInto('app_counters')
      .values([
        { id: 1, n: 0 },
        { id: 2, n: 0 },
      ])
      .execute();
    const table = sql.table(fixture.schema === undefined ? 'app_counters' : `${fixture.schema}.app_counters`);
    let bothLocked!: () => void;
    let locked = 0;
    const barrier = new Promise<void>((resolve) => {
      bothLocked = resolve;
    });
    const run = async (id: string, first: number, second: number): Promise<Outcome> => {
      let after: unknown;
      const call = await dw
        .transaction(async (uow) => {
          const db = uow.db as SqlStoreUnderTest['kysely'];
          await sql`UPDATE ${table} SET n = n + 1 WHERE id = ${first}`.execute(db);
          if (++locked === 2) bothLocked();
          await barrier;
          await sql`UPDATE ${table} SET n = n + 1 WHERE id = ${second}`.execute(db).catch(() => {});
          after = await sql`UPDATE ${table} SET n = n + 10 WHERE id = ${first}`.execute(db).then(
            () => 'ran',
            (e: unknown) => e,
          );
          await uow.put({ id, text: `written by ${id}`, metadata: {}, embedding: [1, 0, 0] });
        })
        .then(
          () => 'ok',
          (e: unknown) => e,
        );
      return { call, after };
    };
    const outcomes = await Promise.all([run('a', 1, 2), run('b', 2, 1)]);
    const winners = outcomes.filter((o) => o.call === 'ok');
    assert.equal(
      winners.length,
      1,
      `exactly one transaction commits: ${outcomes.map((o) => String(o.call))}`,
    );
    const winner = outcomes.indexOf(winners[0]!);
    const victim = outcomes[1 - winner]!;
    assert.equal(winners[0]!.after, 'ran');
    for (const [what, error] of [
      ['the call', victim.call],
      ['the statement after the deadlock', victim.after],
    ] as const) {
      assert.ok(
        error instanceof TransientBackendError,
        `${what}: a TransientBackendError, got ${String(error)}`,
      );
      assert.equal(error.retryable, true);
      assert.match(error.message, /rolled the whole transaction back/);
    }
    const [winnerId, victimId] = winner === 0 ? ['a', 'b'] : ['b', 'a'];
    assert.ok(await dw.get(winnerId), 'the winner’s record is written');
    assert.equal(await dw.get(victimId), undefined, 'nothing of the victim’s is written');
    const rows = await scoped.selectFrom('app_counters').select(['id', 'n']).orderBy('id').execute();
    // The winner added 1 to both rows and 10 to its first; the victim nothing.
    const winnerFirst = winner === 0 ? 1 : 2;
    assert.deepEqual(
      rows.map((r) => [Number(r.id), Number(r.n)]),
      [
        [1, winnerFirst === 1 ? 11 : 1],
        [2, winnerFirst === 2 ? 11 : 1],
      ],
    );
  } finally {
    await dw.close({ drain: false });
  }
}
