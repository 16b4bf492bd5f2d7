import { expect } from 'vitest';
import { readOutboxEntry } from '../../contracts/relational-operations.js';
import type { RelationalStore } from '../../contracts/relational-store.js';
import { ValidationError } from '../../errors.js';
import {
  putInTx,
  type RelationalStoreFactory,
  type RelationalStoreFixture,
  rejectionOf,
  uid,
  withStore,
} from './helpers.js';

type RunStatement = (native: unknown, statement: string) => Promise<unknown>;

/** `withStore`, with the fixture's {@link RelationalStoreFixture.runStatement}. */
function withSqlStore(
  factory: RelationalStoreFactory,
  fn: (store: RelationalStore, run: RunStatement) => Promise<void>,
): Promise<void> {
  return withStore(factory, (store, fixture) => {
    const run = fixture.runStatement;
    if (!run)
      throw new Error('this check needs the fixture’s runStatement (skip it for a store without SQL)');
    return fn(store, run.bind(fixture));
  });
}

/** `error` is the `ValidationError` on `uow.db` of a transaction the application ended. */
function expectEnded(error: unknown, what: string): void {
  expect(error, `${what}: ${String(error)}`).toBeInstanceOf(ValidationError);
  expect((error as ValidationError).field, what).toBe('uow.db');
}

/** Whether `id` has a record row, and whether it has an outbox entry. */
async function stored(store: RelationalStore, id: string): Promise<{ record: boolean; outbox: boolean }> {
  const record = (await store.getRecords([id], { includeDeleted: true })).has(id);
  return { record, outbox: (await readOutboxEntry(store, id)) !== undefined };
}

/**
 * RelationalStore contract checks: a statement the application runs on `tx.native` that ends the transaction
 * (`COMMIT`, `ROLLBACK`) leaves the statements after it in autocommit. A record written there would commit its
 * row and its outbox entry one by one — a record never indexed if the process died in between — so the store
 * refuses it, and `transaction()` rejects instead of resolving as if the callback had been atomic.
 */
export const endedTransactionChecks = {
  'a record write after a COMMIT on tx.native is refused naming uow.db, and transaction() rejects': (
    factory: RelationalStoreFactory,
  ) =>
    withSqlStore(factory, async (store, run) => {
      const [before, after] = [uid('before'), uid('after')];
      let refused: unknown;
      const error = await rejectionOf('transaction() after a COMMIT', () =>
        store.transaction(async (tx) => {
          await putInTx(tx, { id: before });
          await run(tx.native, 'COMMIT');
          // Caught, as an application might: the commit must still not pass for an atomic one.
          refused = await rejectionOf('a write after the COMMIT', () => putInTx(tx, { id: after }));
        }),
      );
      expectEnded(refused, 'the write after the COMMIT');
      expectEnded(error, 'transaction()');
      expect(await stored(store, before), 'committed by the COMMIT, with its entry').toEqual({
        record: true,
        outbox: true,
      });
      expect(await stored(store, after), 'nothing of the refused write').toEqual({
        record: false,
        outbox: false,
      });
    }),

  'a ROLLBACK on tx.native as the last statement: transaction() rejects naming uow.db': (
    factory: RelationalStoreFactory,
  ) =>
    withSqlStore(factory, async (store, run) => {
      const id = uid('undone');
      const error = await rejectionOf('transaction() ending in a ROLLBACK', () =>
        store.transaction(async (tx) => {
          await putInTx(tx, { id });
          await run(tx.native, 'ROLLBACK');
        }),
      );
      expectEnded(error, 'transaction()');
      expect(await stored(store, id)).toEqual({ record: false, outbox: false });
    }),

  'the application’s own savepoints on tx.native keep the transaction atomic': (
    factory: RelationalStoreFactory,
  ) =>
    withSqlStore(factory, async (store, run) => {
      const [dropped, kept] = [uid('dropped'), uid('kept')];
      await store.transaction(async (tx) => {
        await run(tx.native, 'SAVEPOINT app_step');
        await putInTx(tx, { id: dropped });
        await run(tx.native, 'ROLLBACK TO SAVEPOINT app_step');
        await putInTx(tx, { id: kept });
      });
      expect(await stored(store, dropped)).toEqual({ record: false, outbox: false });
      expect(await stored(store, kept)).toEqual({ record: true, outbox: true });
    }),
};
