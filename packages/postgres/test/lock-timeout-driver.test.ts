/**
 * The store's transactions begin with `BEGIN; SET LOCAL lock_timeout = …` in one message. When the `SET` fails
 * after the `BEGIN` succeeded — a `pg_cancel_backend` or `statement_timeout` landing on it — the transaction is
 * open and aborted, and Kysely gives a connection whose begin failed back to the pool without a ROLLBACK: a
 * break-it round saw pooled connections stay `idle in transaction (aborted)` and every later statement on them
 * fail with 25P02 (plain puts reported as a non-retryable `ValidationError` on `uow.db`, for 30 s and more).
 * Here the `SET` fails for sure (a lock timeout out of range) on a real server, with a pool of one connection.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { LockTimeoutDriver } from '../src/postgres-lock-timeout-driver.js';
import { DATABASE_URL } from './helpers.js';

describe('a transaction whose begin message fails after its BEGIN', () => {
  it('rolls back before the connection returns to the pool: the next statement on it runs', async () => {
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
    const db = new Kysely<unknown>({
      dialect: new (class extends PostgresDialect {
        override createDriver() {
          return new LockTimeoutDriver({ pool }, -5); // SET LOCAL lock_timeout = -5: out of range
        }
      })({ pool }),
    });
    try {
      await expect(db.transaction().execute(async () => {})).rejects.toThrow(/lock_timeout/);
      // The pool's only connection: before, "current transaction is aborted, commands ignored until end of
      // transaction block" (25P02).
      const { rows } = await sql<{ state: string }>`SELECT 'usable' AS state`.execute(db);
      expect(rows).toEqual([{ state: 'usable' }]);
    } finally {
      await db.destroy();
    }
  });
});
