/**
 * Another session holds the records' rows while delivery stores the embeddings it computed back on them, on a real
 * PostgreSQL (`checkRecordsLockedDuringDelivery`). `lock_timeout` is set per transaction, so storing an embedding
 * runs in one: alone, the `UPDATE` waited as long as the rows were held, each wait holding a pool connection, and
 * with the pool full the application's own writes failed to connect (helper-68).
 */
import { checkHeldRowsHoldUpNoOtherWrites, checkRecordsLockedDuringDelivery } from '@dualwrite/sql/testing';
import pg from 'pg';
import { expect, it } from 'vitest';
import { DATABASE_URL, testSchema } from './helpers.js';

/**
 * Holds the rows of `dw_records` in `schema` from another session (`SELECT … FOR UPDATE` in an open transaction) —
 * those of `ids`, or every row — until the function it resolves to is called.
 */
async function holdRows(schema: string, ids?: readonly string[]): Promise<() => Promise<void>> {
  const other = new pg.Client({ connectionString: DATABASE_URL });
  await other.connect();
  await other.query('BEGIN');
  if (ids) await other.query(`SELECT id FROM "${schema}".dw_records WHERE id = ANY($1) FOR UPDATE`, [ids]);
  else await other.query(`SELECT id FROM "${schema}".dw_records FOR UPDATE`);
  return async () => {
    await other.query('ROLLBACK');
    await other.end();
  };
}

it('PostgreSQL: records locked by another session while delivery stores their embeddings are charged nothing, and the pool stays usable', async () => {
  const schema = testSchema();
  try {
    await expect(
      checkRecordsLockedDuringDelivery({
        relational: schema.store({ lockTimeoutMs: 300, poolSize: 2, connectTimeoutMs: 3_000 }),
        writesBesideLockedRows: true,
        lockRecords: () => holdRows(schema.schema),
      }),
    ).resolves.toBeUndefined();
  } finally {
    await schema.drop();
  }
});

it("PostgreSQL: two rows held by another session hold up no write of the claim's other ids", async () => {
  const schema = testSchema();
  try {
    await expect(
      checkHeldRowsHoldUpNoOtherWrites({
        relational: schema.store({ lockTimeoutMs: 3_000 }),
        writer: schema.store({ lockTimeoutMs: 500 }),
        lockRows: (ids) => holdRows(schema.schema, ids),
      }),
    ).resolves.toBeUndefined();
  } finally {
    await schema.drop();
  }
});
