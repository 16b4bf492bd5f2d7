/**
 * A `uow.put` whose outbox insert hits a lock wait timeout (another session holds the id's outbox row) on a real
 * MariaDB: InnoDB undoes only that statement, so before the facade refused the commit the callback could catch
 * the error, return, and commit the record row without its outbox entry — the index then stayed stale after
 * every flush (helper-55). Now `transaction()` rejects with the retryable error and nothing of it commits.
 */
import { createDualWrite, HashingEmbedder, TransientBackendError, verifyConsistency } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing';
import { createConnection } from 'mysql2/promise';
import { afterEach, describe, expect, it } from 'vitest';
import { MysqlRelationalStore } from '../src/index.js';
import { testDatabase } from './helpers.js';

const DIM = 8;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

describe('MySQL: a uow write that hit a lock wait timeout', () => {
  it('rolls back the whole transaction, even when the callback caught the error', async () => {
    const db = await testDatabase();
    const relational = new MysqlRelationalStore({ connectionString: db.url, lockTimeoutMs: 1_000 });
    const vector = new MemoryVectorStore({ dimension: DIM });
    const dw = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'sync-2pc',
      driftCheck: false,
    });
    cleanups.push(async () => {
      await dw.close();
      await db.drop();
    });
    await dw.put({ id: 'h', text: 'original' });
    await dw.flush();

    // Another session (an admin script, a report) holds h's outbox row.
    const other = await createConnection({ uri: db.url });
    cleanups.unshift(() => other.end());
    await other.query('BEGIN');
    await other.query("SELECT * FROM dw_outbox WHERE record_id = 'h' FOR UPDATE");
    let caught: unknown;
    const outcome = await dw
      .transaction(async (uow) => {
        await uow.put({ id: 'h', text: 'changed' }).catch((e: unknown) => {
          caught = e;
        });
        return 'returned';
      })
      .catch((e: unknown) => e);
    await other.query('ROLLBACK');

    expect(caught, 'the outbox insert waited out the lock').toBeInstanceOf(TransientBackendError);
    expect(outcome, 'transaction() rejects with it: nothing committed').toBe(caught);
    expect((await relational.getRecords(['h'])).get('h')).toMatchObject({ text: 'original', version: 1 });
    await dw.flush();
    expect(await verifyConsistency(relational, vector)).toMatchObject({ lost: 0, stale: 0, mismatched: 0 });
  });
});
