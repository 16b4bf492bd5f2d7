/**
 * `dw.transaction` on real SQLite: a write the callback starts but forgets to await finishes inside the
 * transaction, record and outbox entry together, before it commits.
 */
import { join } from 'node:path';
import { createDualWrite, verifyConsistency } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing';
import { type Kysely, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { SqliteRelationalStore } from '../src/index.js';
import { tempDir } from './helpers.js';

/** A facade over a SQLite file in `dir` and a reference vector store, delivering with batch. */
async function openFacade(dir: string) {
  const relational = new SqliteRelationalStore({ path: join(dir, 'db.sqlite') });
  const dw = await createDualWrite({
    relational,
    vector: new MemoryVectorStore({ dimension: 3 }),
    strategy: 'batch',
    driftCheck: false,
  });
  return { relational, dw };
}

describe('dw.transaction with a write not awaited', () => {
  it.each([0, 1, 2, 3, 4, 5, 8])(
    'after %i ticks of the callback: the write completes in the transaction and is delivered',
    async (ticks) => {
      const { dir, remove } = await tempDir();
      const { dw } = await openFacade(dir);
      try {
        let put: Promise<unknown> | undefined;
        await dw.transaction(async (uow) => {
          put = uow.put({ id: 'r', text: 'x', embedding: [1, 2, 3], metadata: { k: 'v' } }); // no await
          for (let i = 0; i < ticks; i++) await null;
        });
        await expect(put).resolves.toMatchObject({ id: 'r', version: 1, changed: true });
        expect(await dw.flush()).toMatchObject({ pending: 0, deadLetters: 0 });
        expect(await dw.syncStatus('r')).toMatchObject({ state: 'synced', version: 1 });
        expect((await dw.vector.getVersions(['r'])).get('r')).toBe(1);
      } finally {
        await dw.close();
        await remove();
      }
    },
  );
});

describe('uow.db kept past its transaction', () => {
  it('is refused naming uow.db instead of running in the next transaction on the connection', async () => {
    const { dir, remove } = await tempDir();
    const { relational, dw } = await openFacade(dir);
    try {
      let escaped: Kysely<unknown> | undefined;
      await dw.transaction(async (uow) => {
        escaped = uow.db as Kysely<unknown>;
        await sql`CREATE TABLE audit (msg TEXT)`.execute(escaped);
        await sql`INSERT INTO audit VALUES ('inside')`.execute(escaped);
        // Inside the callback it is the transaction's Kysely in every respect (methods, getters, `fn`).
        const db = escaped as Kysely<{ audit: { msg: string } }>;
        const [row] = await db.selectFrom('audit').select(db.fn.countAll<number>().as('n')).execute();
        expect(Number(row?.n)).toBe(1);
      });
      await expect(sql`INSERT INTO audit VALUES ('late')`.execute(escaped!)).rejects.toMatchObject({
        code: 'VALIDATION',
        field: 'uow.db',
      });
      expect(() => escaped!.selectNoFrom(sql`1`.as('one'))).toThrow(/uow\.db/);
      // Nothing of the late write ran inside another transaction that later rolled back or committed.
      await dw
        .transaction(async (uow) => {
          await uow.put({ id: 'r', text: 'x', embedding: [1, 2, 3] });
          await sql`INSERT INTO audit VALUES ('late')`.execute(escaped!).catch(() => {});
          throw new Error('roll back');
        })
        .catch(() => {});
      const rows = await sql<{ msg: string }>`SELECT msg FROM audit`.execute(relational.kysely);
      expect(rows.rows.map((r) => r.msg)).toEqual(['inside']);
      // Returning the handle from the callback is not a use of it: the transaction commits.
      const returned = await dw.transaction(async (uow) => {
        await sql`INSERT INTO audit VALUES ('returned')`.execute(uow.db as Kysely<unknown>);
        expect((uow.db as object).constructor.name).not.toMatch(/^bound /);
        return uow.db;
      });
      expect(returned).toBeDefined();
      const after = await sql<{ msg: string }>`SELECT msg FROM audit`.execute(relational.kysely);
      expect(after.rows.map((r) => r.msg)).toEqual(['inside', 'returned']);
    } finally {
      await dw.close();
      await remove();
    }
  });
});

describe('a COMMIT or ROLLBACK run on uow.db inside dw.transaction', () => {
  const record = (id: string) => ({ id, text: `text ${id}`, embedding: [1, 2, 3] });

  /** Runs `body` against a fresh facade; afterwards the index equals SQL. */
  async function withFacade(body: (dw: Awaited<ReturnType<typeof openFacade>>['dw']) => Promise<void>) {
    const { dir, remove } = await tempDir();
    const { relational, dw } = await openFacade(dir);
    try {
      await body(dw);
      await dw.flush();
      const report = await verifyConsistency(relational, dw.vector);
      expect({ lost: report.lost, orphans: report.orphans, stale: report.stale }).toEqual({
        lost: 0,
        orphans: 0,
        stale: 0,
      });
    } finally {
      await dw.close();
      await remove();
    }
  }

  it('a put after an explicit COMMIT is refused naming uow.db and never written (it would run in autocommit)', () =>
    withFacade(async (dw) => {
      const attempt = dw.transaction(async (uow) => {
        await uow.put(record('before'));
        await sql`COMMIT`.execute(uow.db as Kysely<unknown>);
        await uow.put(record('after'));
      });
      await expect(attempt).rejects.toMatchObject({ name: 'ValidationError', field: 'uow.db' });
      expect(await dw.get('before')).toBeDefined(); // committed by the application's COMMIT, with its outbox entry
      expect(await dw.get('after')).toBeUndefined();
    }));

  it('COMMIT then BEGIN: the call rejects and what ran in the new transaction is rolled back', () =>
    withFacade(async (dw) => {
      const attempt = dw.transaction(async (uow) => {
        await sql`COMMIT`.execute(uow.db as Kysely<unknown>);
        await sql`BEGIN`.execute(uow.db as Kysely<unknown>);
        await uow.put(record('in-app-tx'));
      });
      await expect(attempt).rejects.toMatchObject({ name: 'ValidationError', field: 'uow.db' });
      expect(await dw.get('in-app-tx')).toBeUndefined();
    }));

  it('a ROLLBACK as the last statement: the call rejects instead of resolving with the put undone', () =>
    withFacade(async (dw) => {
      const attempt = dw.transaction(async (uow) => {
        await uow.put(record('undone'));
        await sql`ROLLBACK`.execute(uow.db as Kysely<unknown>);
      });
      await expect(attempt).rejects.toMatchObject({ name: 'ValidationError', field: 'uow.db' });
      expect(await dw.get('undone')).toBeUndefined();
      // The connection is usable afterwards, and the application's own savepoints still work.
      await dw.transaction(async (uow) => {
        await sql`SAVEPOINT app_step`.execute(uow.db as Kysely<unknown>);
        await uow.put(record('dropped'));
        await sql`ROLLBACK TO app_step`.execute(uow.db as Kysely<unknown>);
        await uow.put(record('kept'));
      });
      expect(await dw.get('dropped')).toBeUndefined();
      expect(await dw.get('kept')).toBeDefined();
    }));
});
