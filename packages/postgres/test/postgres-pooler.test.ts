import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDualWrite, HashingEmbedder, TransientBackendError } from '@dualwrite/core';
import {
  type RelationalStoreFixture,
  relationalStoreSuite,
  writeStrategySuite,
} from '@dualwrite/core/testing';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { runSqlStatement, writeTestRecord } from '@dualwrite/sql/testing';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PostgresRelationalStore, postgresErrorCode } from '../src/index.js';
import type { PostgresRelationalStoreOptions } from '../src/postgres-relational-store-options.js';
import { DATABASE_URL, dropSchema, holdRecordLock, schemaName, until } from './helpers.js';
import { type PrivatePgBouncer, startPgBouncer } from './private-pgbouncer.js';

// The store behind PgBouncer, the pooler most PostgreSQL deployments put in front of the server (and what
// Supavisor's and Neon's pooled endpoints behave like). In session mode a client keeps one server session; in
// transaction mode consecutive statements outside a transaction may run on different server sessions, so
// anything session-scoped (a session advisory lock, LISTEN, SET) does not stay with the client.

const started = new Map<string, Promise<PrivatePgBouncer>>();
const pooler = (mode: 'session' | 'transaction'): Promise<PrivatePgBouncer> => {
  let bouncer = started.get(mode);
  if (bouncer === undefined) {
    bouncer = startPgBouncer(mode);
    started.set(mode, bouncer);
  }
  return bouncer;
};

afterAll(async () => {
  for (const bouncer of started.values()) await (await bouncer).destroy();
});

/** A store on a fresh schema through the pooler in `mode`; `drop()` closes it and removes the schema. */
async function pooled(
  mode: 'session' | 'transaction',
  options: Partial<PostgresRelationalStoreOptions> = {},
  schema = schemaName(),
): Promise<PostgresRelationalStore> {
  const { url } = await pooler(mode);
  return new PostgresRelationalStore({ connectionString: url, schema, poolSize: 4, ...options });
}

/** Writes a record `id` (no outbox entry: these tests read it back or lock it, nothing delivers). */
function putRecord(store: PostgresRelationalStore, id: string): Promise<number> {
  return store.transaction((tx) => writeTestRecord(tx, id, Date.now()));
}

const fixture = (mode: 'session' | 'transaction') => async (): Promise<RelationalStoreFixture> => {
  const store = await pooled(mode);
  return {
    store,
    runStatement: runSqlStatement,
    async cleanup() {
      await store.close();
      await dropSchema(store.tableNames.schema);
    },
  };
};

relationalStoreSuite('postgres behind PgBouncer (transaction mode)', fixture('transaction'), { sql: true });

writeStrategySuite('postgres behind PgBouncer (transaction mode)+lancedb', async ({ dimension }) => {
  const dir = await mkdtemp(join(tmpdir(), 'dw-pg-pooler-'));
  const schema = schemaName();
  return {
    open: async () => ({
      relational: await pooled('transaction', {}, schema),
      vector: await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension }),
    }),
    cleanup: async () => {
      await dropSchema(schema);
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('PostgresRelationalStore behind PgBouncer', () => {
  const open: PostgresRelationalStore[] = [];
  const track = (s: PostgresRelationalStore) => {
    open.push(s);
    return s;
  };
  afterEach(async () => {
    const schemas = new Set(open.map((s) => s.tableNames.schema));
    for (const s of open.splice(0)) await s.close();
    for (const schema of schemas) await dropSchema(schema);
  });

  it.each(['session', 'transaction'] as const)(
    '%s mode: connects (no startup parameter PgBouncer refuses); lockTimeoutMs bounds the waits of transactions and of the write function, and stays with them',
    async (mode) => {
      const holder = track(
        new PostgresRelationalStore({ connectionString: DATABASE_URL, schema: schemaName() }),
      );
      await holder.init();
      const waiter = track(await pooled(mode, { lockTimeoutMs: 100 }, holder.tableNames.schema));
      await waiter.init();
      await putRecord(waiter, 'x');
      const hold = await holdRecordLock(holder, 'x');
      const inTransaction = await waiter.transaction((tx) => tx.getRecord('x')).catch((e: unknown) => e);
      const put = {
        op: 'put' as const,
        record: { id: 'x', text: 'waits', metadata: {}, embedding: undefined },
      };
      const inFunction = await waiter.writeChanges([put], Date.now()).catch((e: unknown) => e);
      hold.release();
      await hold.done;
      for (const error of [inTransaction, inFunction]) {
        expect(error).toBeInstanceOf(TransientBackendError);
        expect(postgresErrorCode((error as Error).cause)).toBe('55P03');
      }
      // Set per transaction, never per session: no server session the pooler hands out keeps it (a session
      // SET did, in transaction mode: it stayed on whichever server session ran it, for every client).
      const { url } = await pooler(mode);
      const raw = new pg.Pool({ connectionString: url, max: 4 });
      try {
        const seen = await Promise.all(Array.from({ length: 12 }, () => raw.query('SHOW lock_timeout')));
        expect(new Set(seen.map((r) => r.rows[0].lock_timeout))).toEqual(new Set(['0']));
      } finally {
        await raw.end();
      }
    },
  );

  it('transaction mode: concurrent init()s take no session lock, so none is left behind to block the next', async () => {
    // Kysely's migrator takes a session-level advisory lock in a statement of its own: behind a transaction
    // pooler it stayed held on one server session and every later init() landing elsewhere waited up to an hour.
    const bounded = <T>(what: string, p: Promise<T>) =>
      Promise.race([
        p,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`${what} hung: a lock was left held`)), 15_000),
        ),
      ]);
    for (let round = 0; round < 3; round++) {
      const schema = schemaName();
      const stores = await Promise.all(
        Array.from({ length: 4 }, async () =>
          track(await pooled('transaction', { lockTimeoutMs: 5_000 }, schema)),
        ),
      );
      await bounded(`round ${round}`, Promise.all(stores.map((s) => s.init())));
      const direct = track(
        new PostgresRelationalStore({ connectionString: DATABASE_URL, schema, lockTimeoutMs: 5_000 }),
      );
      await bounded(`a direct init() after round ${round}`, direct.init());
      await putRecord(direct, 'r');
      expect((await stores[0]!.getRecords(['r'])).size, 'one schema, migrated once, shared').toBe(1);
    }
  });

  it('transaction mode: named prepared statements the pooler does not carry across server sessions fail no write or ack', async () => {
    // PgBouncer before 1.21 hands a client's next statement to any server session: a Bind finds no statement
    // there (26000), or a Parse finds one of the name already (42P05). Each store falls back to unnamed calls.
    const first = track(await pooled('transaction'));
    await first.init();
    const second = track(await pooled('transaction', {}, first.tableNames.schema));
    await second.init();
    const put = (id: string, text: string) => ({
      op: 'put' as const,
      record: { id, text, metadata: {}, embedding: [1, 2, 3] },
    });
    const rounds = 20;
    const written = await Promise.all(
      [first, second].flatMap((store, s) =>
        Array.from({ length: 4 }, async (_, w) => {
          const results = [];
          for (let r = 0; r < rounds; r++)
            results.push(
              ...(await store.writeChanges([put(`id-${w}-${r % 5}`, `s${s} w${w} r${r}`)], Date.now())),
            );
          return results;
        }),
      ),
    );
    expect(written.flat()).toHaveLength(2 * 4 * rounds);
    const now = Date.now();
    const leases = await first.claimOutbox({ owner: 'w', limit: 100, leaseMs: 30_000, now });
    expect(leases).toHaveLength(4 * 5);
    const half = leases.length / 2;
    const outcomes = await Promise.all(
      [first, second].map((store, s) =>
        store.ackOutbox(
          leases
            .slice(s * half, (s + 1) * half)
            .map((l) => ({ recordId: l.recordId, leaseToken: l.leaseToken, appliedVersion: l.version })),
          now,
        ),
      ),
    );
    expect(outcomes.flat()).toEqual(leases.map(() => 'acked'));
    expect((await second.outboxStats(Date.now())).depth).toBe(0);
    const records = await first.getRecords(leases.map((l) => l.recordId));
    for (const lease of leases) expect(records.get(lease.recordId)?.syncedVersion).toBe(lease.version);
  });

  it('transaction mode: the listener reports that notifications do not arrive (delivery falls back to polling)', async () => {
    const direct = track(
      new PostgresRelationalStore({
        connectionString: DATABASE_URL,
        schema: schemaName(),
        listenHeartbeatMs: 100,
      }),
    );
    await direct.init();
    const behind = track(await pooled('transaction', { listenHeartbeatMs: 100 }, direct.tableNames.schema));
    await behind.init();
    await direct.subscribeOutbox(() => {});
    await behind.subscribeOutbox(() => {});
    await until(
      'a heartbeat behind the pooler',
      () => behind.listenerHealth().notificationsDelivered !== null,
    );
    await until(
      'a heartbeat on the direct connection',
      () => direct.listenerHealth().notificationsDelivered !== null,
    );
    // Under no other load the pooler may hand the LISTEN session back to the heartbeat's NOTIFY now and then;
    // what matters is that the health says so whenever it does not arrive.
    await until('a missed notification', () => behind.listenerHealth().notificationsMissed > 0);
    expect(behind.listenerHealth()).toMatchObject({ listening: true });
    expect(direct.listenerHealth()).toMatchObject({ notificationsDelivered: true, notificationsMissed: 0 });
  });

  it('transaction mode: a drain worker whose wake-ups are missing polls short, not at its 5 s backstop', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dw-pg-pooler-'));
    const embedder = new HashingEmbedder({ dimension: 8 });
    const vector = await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: 8 });
    const behind = track(await pooled('transaction', { listenHeartbeatMs: 100 }));
    const worker = await createDualWrite({
      relational: behind,
      vector,
      embedder,
      strategy: 'async-queue',
      delivery: { pollIntervalMs: 5_000 },
      driftCheck: false,
    });
    const direct = track(
      new PostgresRelationalStore({ connectionString: DATABASE_URL, schema: behind.tableNames.schema }),
    );
    const writer = await createDualWrite({
      relational: direct,
      vector,
      embedder,
      strategy: 'async-queue',
      driftCheck: false,
    });
    try {
      writer.pause(); // only the worker behind the pooler delivers
      await until('a missed notification', () => behind.listenerHealth().notificationsMissed > 0);
      for (let i = 0; i < 3; i++) {
        const id = `elsewhere-${i}`;
        const started = performance.now();
        const { version } = await writer.put({ id, text: 'written by a process the pooler hides' });
        await until(
          `${id} delivered`,
          async () => (await vector.getVersions([id])).get(id) === version,
          10_000,
        );
        const elapsed = performance.now() - started;
        console.log(
          `[pooler] ${id} delivered ${elapsed.toFixed(0)} ms after the write (backstop poll 5,000 ms)`,
        );
        expect(
          elapsed,
          `${id}: picked up by the short poll (health: ${JSON.stringify(behind.listenerHealth())})`,
        ).toBeLessThan(2_500);
        await new Promise((r) => setTimeout(r, 1_000)); // idle: the poll backs off a little
      }
    } finally {
      await writer.close({ drain: false, timeoutMs: 2_000 });
      await worker.close({ drain: false, timeoutMs: 2_000 });
      await rm(dir, { recursive: true, force: true });
    }
  });
});
