/**
 * A transaction whose ROLLBACK fails never hands its connection out again (on a real MariaDB). Such a connection
 * may still be inside the transaction it could not end: the next `START TRANSACTION` on it would implicitly
 * commit what the caller was told had failed, and meanwhile it holds that transaction's locks. Made
 * deterministic here with an application's `XA START` on `uow.db` (a `ROLLBACK` is refused while an XA
 * transaction is active); under `KILL QUERY` a COMMIT and then its ROLLBACK can be interrupted alike.
 */
import { createDualWrite, type DualWrite } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { type MysqlKysely, MysqlRelationalStore } from '../src/index.js';
import { testDatabase } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

describe('MySQL: a connection whose ROLLBACK failed', () => {
  it('is destroyed, not handed out again: the writes after it succeed (pool of one)', async () => {
    const db = await testDatabase();
    const relational = new MysqlRelationalStore({ connectionString: db.url, poolSize: 1 });
    const dw: DualWrite<MysqlKysely> = await createDualWrite({
      relational,
      vector: new MemoryVectorStore({ dimension: 2 }),
      strategy: 'batch',
      deliver: false,
      driftCheck: false,
    });
    cleanups.push(async () => {
      await dw.close({ drain: false });
      await db.drop();
    });
    await dw.put({ id: 'before', text: 'before', embedding: [1, 0] });
    const attempt = dw.transaction(async (uow) => {
      await uow.put({ id: 'inside', text: 'inside', embedding: [1, 0] });
      await sql`COMMIT`.execute(uow.db);
      await sql`XA START 'app'`.execute(uow.db); // from here on a ROLLBACK is refused (XAER_RMFAIL)
    });
    await expect(attempt).rejects.toBeDefined();
    // Before, the one connection went back to the pool inside the XA transaction: every later write failed.
    for (let i = 0; i < 3; i++)
      expect((await dw.put({ id: `after-${i}`, text: 'after', embedding: [0, 1] })).changed).toBe(true);
    expect((await dw.get('after-2'))?.text).toBe('after');
  });
});
