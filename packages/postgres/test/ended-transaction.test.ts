/**
 * A `COMMIT` or `ROLLBACK` the application runs on `uow.db` ends the transaction of `dw.transaction()`; the
 * statements after it run in autocommit. A record written after it used to be a record row and an outbox row
 * committed one by one (a record that is never indexed if the process died in between). Every record write
 * locks its id first, and the lock statement now refuses to run outside a transaction block; a transaction
 * that wrote records checks it is still open before COMMIT (a final ROLLBACK used to undo a put the call
 * reported as done). The relational contract suite checks the store's side (`endedTransactionChecks`); these
 * check the facade's, through every kind of write.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDualWrite, type DualWrite, verifyConsistency } from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PostgresKysely, PostgresRelationalStore } from '../src/index.js';
import { adminQuery, testSchema } from './helpers.js';

const record = (id: string) => ({ id, text: `text ${id}`, metadata: {}, embedding: [1, 0, 0] });

let dw: DualWrite<PostgresKysely>;
let relational: PostgresRelationalStore;
let vector: LanceDbVectorStore;
let cleanup: () => Promise<void>;
/** The test's schema, for tables of the application's own. */
let appSchema: string;

beforeEach(async () => {
  const schema = testSchema();
  appSchema = schema.schema;
  const dir = await mkdtemp(join(tmpdir(), 'dw-pg-ended-'));
  relational = schema.store({ poolSize: 3 });
  vector = await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: 3 });
  dw = await createDualWrite({ relational, vector, strategy: 'async-queue', closeStores: false });
  cleanup = async () => {
    await dw.close({ drain: false });
    await relational.close();
    await vector.close();
    await schema.drop();
    await rm(dir, { recursive: true, force: true });
  };
});
afterEach(async () => cleanup());

describe('a COMMIT or ROLLBACK run on uow.db inside dw.transaction() (PostgreSQL)', () => {
  it('a put after an explicit COMMIT is refused naming uow.db and never written', async () => {
    const attempt = dw.transaction(async (uow) => {
      await uow.put(record('before'));
      await sql`COMMIT`.execute(uow.db);
      await uow.put(record('after'));
    });
    await expect(attempt).rejects.toMatchObject({ name: 'ValidationError', field: 'uow.db' });
    expect(await dw.get('before')).toBeDefined(); // committed by the application's COMMIT, with its outbox entry
    expect(await dw.get('after')).toBeUndefined();
    await dw.flush({ timeoutMs: 20_000 });
    const report = await verifyConsistency(relational, vector);
    expect({ lost: report.lost, orphans: report.orphans, stale: report.stale }).toEqual({
      lost: 0,
      orphans: 0,
      stale: 0,
    });
  });

  // helper-55: the callback caught a failed statement and wrote no record: the COMMIT came back as a rollback, which
  // Kysely raises as its own AbortedTransactionError (no dualwrite code).
  it('a failed statement the callback caught aborts the transaction: a typed error naming uow.db, nothing written', async () => {
    const table = sql.table(`${appSchema}.app_rows`);
    await sql`CREATE TABLE ${table} (id text PRIMARY KEY)`.execute(relational.kysely);
    // A duplicate key: PostgreSQL aborts the transaction. Caught, with records written before or after it.
    const failCaught = (db: PostgresKysely) =>
      sql`INSERT INTO ${table} VALUES ('r1')`
        .execute(db)
        .then(() => sql`INSERT INTO ${table} VALUES ('r1')`.execute(db))
        .catch(() => {});
    const cases: Record<string, Parameters<typeof dw.transaction>[0]> = {
      'no record': (uow) => failCaught(uow.db),
      'a put before': async (uow) => {
        await uow.put(record('p-before'));
        await failCaught(uow.db);
      },
      'a put after, caught': async (uow) => {
        await failCaught(uow.db);
        await uow.put(record('p-after')).catch(() => {});
      },
      'a delete after': async (uow) => {
        await failCaught(uow.db);
        await uow.delete('p-gone');
      },
    };
    for (const [name, fn] of Object.entries(cases)) {
      await expect(dw.transaction(fn), name).rejects.toMatchObject({
        name: 'ValidationError',
        field: 'uow.db',
        message: expect.stringMatching(/25P02.*nothing of it is written/),
      });
    }
    const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${table}`.execute(relational.kysely);
    expect(rows.rows[0]!.n).toBe(0);
    expect(await dw.get('p-before')).toBeUndefined();
    expect(await dw.get('p-after')).toBeUndefined();
  });

  // helper-40: the lock statement, which checks, was skipped for an id the transaction already held; the second
  // put of it ran in autocommit, its record and outbox rows in two transactions (4 of 4 runs).
  it('the same id written again after a COMMIT or ROLLBACK is refused too', async () => {
    for (const ending of ['COMMIT', 'ROLLBACK']) {
      const id = `again-${ending}`;
      let second: unknown;
      await expect(
        dw.transaction(async (uow) => {
          await uow.put(record(id));
          await sql.raw(ending).execute(uow.db);
          second = await uow.put({ ...record(id), text: 'second' }).catch((e: unknown) => e);
          await uow.delete(id).catch(() => {});
        }),
      ).rejects.toMatchObject({ field: 'uow.db' });
      expect(second, ending).toMatchObject({ name: 'ValidationError', field: 'uow.db' });
      const stored = await dw.get(id);
      if (ending === 'COMMIT')
        expect(stored?.text, 'the first put, committed by the COMMIT').toBe(`text ${id}`);
      else expect(stored, 'nothing: the ROLLBACK undid the first put').toBeUndefined();
    }
  });

  // helper-41: the transaction's start was compared as text, which follows TimeZone and DateStyle.
  it('SET LOCAL TimeZone or DateStyle on uow.db is no end of the transaction', async () => {
    for (const setting of ["SET LOCAL TimeZone = 'Asia/Kolkata'", "SET LOCAL DateStyle = 'SQL, DMY'"]) {
      const id = `tz-${setting.length}`;
      await dw.transaction(async (uow) => {
        await uow.put(record(`${id}-a`));
        await sql.raw(setting).execute(uow.db);
        await uow.put(record(`${id}-b`));
        await sql.raw("SELECT set_config('TimeZone', 'America/Lima', true)").execute(uow.db);
      });
      expect(await dw.get(`${id}-a`), setting).toBeDefined();
      expect(await dw.get(`${id}-b`), setting).toBeDefined();
    }
  });

  // The reliability suite's chaos run: the check before COMMIT met a connection the server had just terminated,
  // and its raw driver error (57P01) escaped unmapped — the writer did not retry it.
  it('a connection lost before the check at COMMIT is a typed, retryable error', async () => {
    const error = await dw
      .transaction(async (uow) => {
        await uow.put(record('lost'));
        const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(uow.db);
        await adminQuery('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ retryable: true, component: 'postgres' });
    expect(await dw.get('lost')).toBeUndefined();
  });

  it('a COMMIT then a BEGIN after a put: the next put, and the commit, are refused', async () => {
    await expect(
      dw.transaction(async (uow) => {
        await uow.put(record('first'));
        await sql`COMMIT`.execute(uow.db);
        await sql`BEGIN`.execute(uow.db);
        await uow.put(record('second'));
      }),
    ).rejects.toMatchObject({ name: 'ValidationError', field: 'uow.db' });
    await expect(
      dw.transaction(async (uow) => {
        await uow.put(record('third'));
        await sql`COMMIT`.execute(uow.db);
        await sql`BEGIN`.execute(uow.db);
      }),
    ).rejects.toMatchObject({ name: 'ValidationError', field: 'uow.db' });
    expect(await dw.get('first')).toBeDefined();
    expect(await dw.get('second')).toBeUndefined();
    expect(await dw.get('third')).toBeDefined();
  });

  it('a delete, and two puts at once, after a ROLLBACK are refused too', async () => {
    await dw.put(record('kept'));
    await expect(
      dw.transaction(async (uow) => {
        await sql`ROLLBACK`.execute(uow.db);
        await uow.delete('kept');
      }),
    ).rejects.toMatchObject({ field: 'uow.db' });
    await expect(
      dw.transaction(async (uow) => {
        await sql`ROLLBACK`.execute(uow.db);
        await Promise.all([uow.put(record('m-1')), uow.put(record('m-2'))]);
      }),
    ).rejects.toMatchObject({ field: 'uow.db' });
    expect(await dw.get('kept')).toBeDefined();
    expect(await dw.get('m-1')).toBeUndefined();
    expect(await dw.get('m-2')).toBeUndefined();
  });

  it('a ROLLBACK or COMMIT as the last statement: the call rejects instead of resolving as if atomic', async () => {
    await expect(
      dw.transaction(async (uow) => {
        await uow.put(record('undone'));
        await sql`ROLLBACK`.execute(uow.db);
      }),
    ).rejects.toMatchObject({ name: 'ValidationError', field: 'uow.db' });
    expect(await dw.get('undone')).toBeUndefined();
    await expect(
      dw.transaction(async (uow) => {
        await uow.put(record('committed'));
        await sql`COMMIT`.execute(uow.db);
      }),
    ).rejects.toMatchObject({ name: 'ValidationError', field: 'uow.db' });
    expect(await dw.get('committed')).toBeDefined(); // with its outbox entry: the index follows
    await dw.flush({ timeoutMs: 20_000 });
    expect((await vector.getVersions(['committed'])).size).toBe(1);
  });
});
