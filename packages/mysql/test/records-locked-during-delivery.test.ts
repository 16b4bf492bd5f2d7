/**
 * Another session holds the records' rows while delivery stores the embeddings it computed back on them, on a real
 * MariaDB (`checkRecordsLockedDuringDelivery`): each try meets `ER_LOCK_WAIT_TIMEOUT`, a fault of the store, and
 * nothing is charged to the records (helper-67: 4 of 10 acknowledged writes dead-lettered at `maxAttempts: 3`).
 */
import { checkHeldRowsHoldUpNoOtherWrites, checkRecordsLockedDuringDelivery } from '@dualwrite/sql/testing';
import { createConnection } from 'mysql2/promise';
import { expect, it } from 'vitest';
import { MysqlRelationalStore } from '../src/index.js';
import { testDatabase } from './helpers.js';

/**
 * Holds the rows of `dw_records` in `url`'s database from another session (`SELECT … FOR UPDATE` in an open
 * transaction) — those of `ids`, or every row — until the function it resolves to is called.
 */
async function holdRows(url: string, ids?: readonly string[]): Promise<() => Promise<void>> {
  const other = await createConnection({ uri: url });
  await other.query('BEGIN');
  if (ids) await other.query('SELECT id FROM dw_records WHERE id IN (?) FOR UPDATE', [ids]);
  else await other.query('SELECT id FROM dw_records FOR UPDATE');
  return async () => {
    await other.query('ROLLBACK');
    await other.end();
  };
}

it('MySQL: records locked by another session while delivery stores their embeddings are charged nothing', async () => {
  const db = await testDatabase();
  try {
    await expect(
      checkRecordsLockedDuringDelivery({
        relational: new MysqlRelationalStore({ connectionString: db.url, lockTimeoutMs: 300, poolSize: 2 }),
        writesBesideLockedRows: false,
        lockRecords: () => holdRows(db.url),
      }),
    ).resolves.toBeUndefined();
  } finally {
    await db.drop();
  }
});

it("MySQL: two rows held by another session hold up no write of the claim's other ids", async () => {
  const db = await testDatabase();
  try {
    await expect(
      checkHeldRowsHoldUpNoOtherWrites({
        relational: new MysqlRelationalStore({ connectionString: db.url, lockTimeoutMs: 3_000 }),
        writer: new MysqlRelationalStore({ connectionString: db.url, lockTimeoutMs: 1_000 }),
        lockRows: (ids) => holdRows(db.url, ids),
      }),
    ).resolves.toBeUndefined();
  } finally {
    await db.drop();
  }
});
