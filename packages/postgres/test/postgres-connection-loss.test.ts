/**
 * A pooled connection killed while the store has it checked out (`pg_terminate_backend`, as a server restart
 * or failover does): the call fails with a typed `BackendUnavailableError`, the process does not crash
 * (node-postgres emits `'error'` on a checked-out client, which pg-pool leaves without a listener), and the
 * pool does not lose the slot — later calls, more than the pool has connections, succeed. Idle connections
 * killed before the driver read the news: a read, or a transaction's BEGIN, runs again on a new connection
 * instead of failing.
 */
import { BackendUnavailableError } from '@dualwrite/core';
import { checkLostConnections } from '@dualwrite/sql/testing';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PostgresRelationalStore } from '../src/index.js';
import { adminQuery, DATABASE_URL, testSchema } from './helpers.js';

const POOL = 2;

/** The store's record count, through a transaction (needs a pooled connection). */
async function countInTransaction(store: PostgresRelationalStore): Promise<number> {
  return store.transaction(async (tx) => {
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(
      `${store.tableNames.schema}.${store.tableNames.records}`,
    )}`.execute(tx.native);
    return Number(rows[0]!.n);
  });
}

describe('PostgresRelationalStore: a checked-out connection killed by the server', () => {
  let fixture: ReturnType<typeof testSchema>;
  let store: PostgresRelationalStore;

  beforeEach(async () => {
    fixture = testSchema();
    store = fixture.store({ poolSize: POOL });
    await store.init();
  });

  afterEach(async () => {
    await store.close();
    await fixture.drop();
  });

  it('inside a transaction: the transaction fails typed, the process survives, no pool slot is lost', async () => {
    for (let round = 0; round < POOL + 1; round++) {
      const failure = await store
        .transaction(async (tx) => {
          const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(tx.native);
          await adminQuery('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
          // The connection is checked out and idle when the server's FATAL and the socket's end arrive:
          // node-postgres emits 'error' on the client (without a listener: an uncaught exception).
          await new Promise((r) => setTimeout(r, 200));
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(failure, `round ${round}`).toBeInstanceOf(BackendUnavailableError);
    }
    // More transactions than the pool has connections: every killed one was discarded, not leaked.
    for (let i = 0; i < POOL + 2; i++) expect(await countInTransaction(store)).toBe(0);
  });

  it('during a query: the query fails typed, the process survives, the pool recovers', async () => {
    for (let round = 0; round < POOL + 1; round++) {
      const running = sql`SELECT pg_sleep(10)`.execute(store.kysely).then(
        () => undefined,
        (error: unknown) => error,
      );
      let pid: number | undefined;
      for (let i = 0; i < 200 && pid === undefined; i++) {
        const { rows } = await adminQuery<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(10)' AND state = 'active'`,
        );
        pid = rows[0]?.pid;
        if (pid === undefined) await new Promise((r) => setTimeout(r, 10));
      }
      expect(pid, 'the sleeping query is visible').toBeDefined();
      await adminQuery('SELECT pg_terminate_backend($1)', [pid]);
      expect(await running).toBeInstanceOf(Error);
      await new Promise((r) => setTimeout(r, 100)); // the socket's end arrives after the query's error
    }
    for (let i = 0; i < POOL + 2; i++) expect(await countInTransaction(store)).toBe(0);
  });

  it('idle connections killed before the driver read it: the next reads and BEGINs run again on new connections', async () => {
    const applicationName = `dw-idle-kill-${process.pid}`;
    const reads = fixture.store({
      poolSize: POOL,
      pool: { connectionString: DATABASE_URL, application_name: applicationName },
    });
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    try {
      await reads.init();
      await checkLostConnections({
        store: reads,
        poolSize: POOL,
        killPool: async () =>
          (
            await admin.query(
              'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
              [applicationName],
            )
          ).rowCount ?? 0,
      });
    } finally {
      await admin.end();
      await reads.close();
    }
  });
});
