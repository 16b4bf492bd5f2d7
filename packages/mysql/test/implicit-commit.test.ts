/**
 * MySQL and MariaDB end a transaction silently on DDL (and `LOCK TABLES`, `START TRANSACTION`, an explicit
 * `COMMIT`): everything after it runs in autocommit. Inside `dw.transaction()` that used to go unnoticed — the
 * callback's later records were written one autocommit statement at a time (a record row without its outbox
 * entry if the process died in between) and the call resolved as if it had been atomic. The store now refuses
 * the next record write and the commit with a `ValidationError` naming `uow.db`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDualWrite, type DualWrite, ValidationError, verifyConsistency } from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type MysqlKysely, MysqlRelationalStore } from '../src/index.js';
import { testDatabase } from './helpers.js';

const record = (id: string) => ({ id, text: `text ${id}`, metadata: {}, embedding: [1, 0, 0] });

let dw: DualWrite<MysqlKysely>;
let relational: MysqlRelationalStore;
let vector: LanceDbVectorStore;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  const database = await testDatabase();
  const dir = await mkdtemp(join(tmpdir(), 'dw-mysql-implicit-'));
  relational = new MysqlRelationalStore({ connectionString: database.url, poolSize: 3 });
  vector = await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: 3 });
  dw = await createDualWrite({ relational, vector, strategy: 'async-queue', closeStores: false });
  cleanup = async () => {
    await dw.close({ drain: false });
    await relational.close();
    await vector.close();
    await database.drop();
    await rm(dir, { recursive: true, force: true });
  };
});
afterEach(async () => cleanup());

/** After a refused transaction: delivery settles, and the index holds exactly what SQL holds. */
async function expectIndexFollowsSql(): Promise<void> {
  await dw.flush({ timeoutMs: 20_000 });
  const report = await verifyConsistency(relational, vector);
  expect({ lost: report.lost, orphans: report.orphans, stale: report.stale }).toEqual({
    lost: 0,
    orphans: 0,
    stale: 0,
  });
}

describe('a statement that ends the transaction inside dw.transaction() (MySQL/MariaDB)', () => {
  it('DDL between two puts: the second put is refused naming uow.db and never written; the first stays committed and indexed', async () => {
    const attempt = dw.transaction(async (uow) => {
      await uow.put(record('before'));
      await uow.db.schema.createTable('app_notes').addColumn('id', 'integer').execute();
      await uow.put(record('after'));
    });
    const error = await attempt.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('uow.db');
    expect((error as Error).message).toMatch(/ended the transaction/);
    // MySQL committed what ran before the DDL; nothing of the refused put is in SQL.
    expect(await dw.get('before')).toBeDefined();
    expect(await dw.get('after')).toBeUndefined();
    await expectIndexFollowsSql();
  });

  it('an explicit COMMIT as the last statement: the call rejects instead of resolving as if atomic', async () => {
    const attempt = dw.transaction(async (uow) => {
      await uow.delete('nothing-here');
      await uow.put(record('a'));
      await sql`COMMIT`.execute(uow.db);
    });
    await expect(attempt).rejects.toMatchObject({ name: 'ValidationError', field: 'uow.db' });
    expect(await dw.get('a')).toBeDefined();
    await expectIndexFollowsSql();
  });

  it("still atomic without such a statement: the application's own savepoints work, and a throw rolls everything back", async () => {
    await dw.transaction(async (uow) => {
      await sql`CREATE TEMPORARY TABLE app_scratch (id INT)`.execute(uow.db); // no implicit commit
      await sql`SAVEPOINT app_step`.execute(uow.db);
      await uow.put(record('undone'));
      await sql`ROLLBACK TO SAVEPOINT app_step`.execute(uow.db);
      await uow.put(record('kept'));
    });
    expect(await dw.get('undone')).toBeUndefined();
    expect(await dw.get('kept')).toBeDefined();

    const thrown = new Error('application failure');
    await expect(
      dw.transaction(async (uow) => {
        await uow.put(record('rolled-back'));
        throw thrown;
      }),
    ).rejects.toBe(thrown);
    expect(await dw.get('rolled-back')).toBeUndefined();
    await expectIndexFollowsSql();
  });
});
