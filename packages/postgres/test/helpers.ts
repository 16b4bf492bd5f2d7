import { randomBytes } from 'node:crypto';
import type { RelationalStoreFixture } from '@dualwrite/core/testing';
import { runSqlStatement } from '@dualwrite/sql/testing';
import pg from 'pg';
import { PostgresRelationalStore } from '../src/index.js';
import type { PostgresRelationalStoreOptions } from '../src/postgres-relational-store-options.js';

/**
 * The test database: `DUALWRITE_TEST_DATABASE_URL`, default the CI server (`scripts/ci/ensure-postgres.sh`:
 * 127.0.0.1:5432, trust auth, database `test`).
 */
export const DATABASE_URL =
  process.env.DUALWRITE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A new, unused schema name `dw_test_<random>` (the store's `init()` creates it). */
export function schemaName(): string {
  return `dw_test_${randomBytes(6).toString('hex')}`;
}

/** Runs one statement on a short-lived connection of its own. */
export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    return await client.query<R>(text, values);
  } finally {
    await client.end();
  }
}

/** Drops a schema created by a test, with everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** A fresh schema and a store factory over it; `drop()` removes the schema. */
export function testSchema(): {
  schema: string;
  store(options?: Partial<PostgresRelationalStoreOptions>): PostgresRelationalStore;
  drop(): Promise<void>;
} {
  const schema = schemaName();
  return {
    schema,
    store: (options = {}) =>
      new PostgresRelationalStore({ connectionString: DATABASE_URL, schema, poolSize: 4, ...options }),
    drop: () => dropSchema(schema),
  };
}

/** Factory for the contract suite: every store gets its own fresh schema, dropped in `cleanup()`. */
export function postgresFactory(
  make: (options: PostgresRelationalStoreOptions) => PostgresRelationalStore = (o) =>
    new PostgresRelationalStore(o),
): () => Promise<RelationalStoreFixture> {
  return async () => {
    const schema = schemaName();
    const store = make({ connectionString: DATABASE_URL, schema, poolSize: 4 });
    return {
      store,
      runStatement: runSqlStatement,
      async cleanup() {
        await store.close();
        await dropSchema(schema);
      },
    };
  };
}

/** Polls `condition` every 10 ms until it holds. @throws {Error} naming `what` after `timeoutMs`. */
export async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Holds the per-record lock of `id` in a transaction of `store` (its `getRecord` takes it) until `release()`;
 * resolves once the lock is held. `done` settles when the transaction has ended.
 */
export async function holdRecordLock(
  store: PostgresRelationalStore,
  id: string,
): Promise<{ release(): void; done: Promise<void> }> {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let locked = () => {};
  const isLocked = new Promise<void>((resolve) => {
    locked = resolve;
  });
  const done = store.transaction(async (tx) => {
    await tx.getRecord(id); // takes the id's lock until the transaction ends
    locked();
    await released;
  });
  await Promise.race([isLocked, done]);
  return { release, done };
}
