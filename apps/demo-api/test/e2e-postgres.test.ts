/**
 * The service on PostgreSQL + LanceDB over real HTTP: the shared strategy suite (`strategy-suite.ts`) for
 * each strategy, then what is PostgreSQL-specific: where the tables live and their column types, listing
 * order and cursors identical to SQLite, concurrent migrations, and the startup error for an unreachable
 * server. Every app gets a fresh schema of the test database (`DUALWRITE_TEST_DATABASE_URL`, default the CI
 * server `postgres://postgres@127.0.0.1:5432/test`), dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { PostgresRelationalStore } from '@dualwrite/postgres';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Started, startApp } from './helpers.js';
import {
  expectMigrationsAppliedOnce,
  expectSameListingAsSqlite,
  expectSerialisedConcurrentBatches,
  expectStartRefused,
} from './server-dialect-checks.js';
import { STRATEGIES, strategySuite } from './strategy-suite.js';

const DATABASE_URL = process.env.DUALWRITE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUN = `demo_api_test_${randomBytes(4).toString('hex')}`;
const schemas = new Set<string>();

/** A fresh schema name for this run (created by the app's store, dropped in `afterAll`). */
function freshSchema(name: string): string {
  const schema = `${RUN}_${name.replace(/-/g, '_')}`;
  schemas.add(schema);
  return schema;
}

let admin: PostgresRelationalStore;
beforeAll(() => {
  admin = new PostgresRelationalStore({ connectionString: DATABASE_URL, poolSize: 2 });
});
afterAll(async () => {
  for (const schema of schemas)
    await sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(admin.kysely);
  const { rows } = await sql<{ n: string }>`
    SELECT count(*) AS n FROM pg_namespace WHERE nspname IN (${sql.join([...schemas])})`.execute(
    admin.kysely,
  );
  expect(Number(rows[0]!.n)).toBe(0);
  await admin.close();
});

for (const strategy of STRATEGIES)
  strategySuite(strategy, {
    relational: { kind: 'postgres', url: DATABASE_URL, schema: freshSchema(strategy) },
    vector: 'lancedb',
  });

describe('PostgreSQL specifics', () => {
  const schema = freshSchema('specifics');
  let pg: Started;
  let lite: Started;

  beforeAll(async () => {
    [pg, lite] = await Promise.all([
      startApp({ relational: { kind: 'postgres', url: DATABASE_URL, schema } }),
      startApp({ relational: { kind: 'sqlite' } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), lite?.stop()]);
  });

  it('keeps its tables in the configured schema, with the same column semantics as on SQLite', async () => {
    const db = admin.kysely;
    const { rows: tables } = await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema} ORDER BY table_name`.execute(
      db,
    );
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(['demo_api_migrations', 'demo_api_migrations_lock', 'dw_records', 'summaries']),
    );
    const { rows: columns } = await sql<{ column_name: string; data_type: string; collation_name: string }>`
      SELECT column_name, data_type, collation_name FROM information_schema.columns
      WHERE table_schema = ${schema} AND table_name = 'summaries'`.execute(db);
    expect(Object.fromEntries(columns.map((c) => [c.column_name, [c.data_type, c.collation_name]]))).toEqual({
      target_fqn: ['text', 'C'],
      summary: ['text', null],
      level: ['text', null],
      stale: ['integer', null],
      version: ['bigint', null],
      created_at: ['bigint', null],
      updated_at: ['bigint', null],
    });
    // Status names the server, database and schema, never the credentials.
    const described = (await pg.request('GET', '/sync/status')).body.backends.relational as string;
    expect(described).toMatch(new RegExp(`^postgres \\S+/\\S+ \\(schema ${schema}, prefix dw_\\)$`));
    expect(described).not.toContain('@');
  });

  it('lists in code point order with the same pages and cursors as SQLite', () =>
    expectSameListingAsSqlite(pg, lite));

  it('serialises concurrent batches over the same fqns: no deadlock, no lost update, one creation', () =>
    expectSerialisedConcurrentBatches(pg));

  it('applies its migrations once when instances start at the same time', async () => {
    const migrationSchema = freshSchema('migrate');
    const stores = [0, 1, 2].map(
      () =>
        new PostgresRelationalStore({ connectionString: DATABASE_URL, schema: migrationSchema, poolSize: 2 }),
    );
    try {
      await expectMigrationsAppliedOnce(stores, { dialect: 'postgres', schema: migrationSchema } as const);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('refuses to start when the server cannot be reached, naming relational.url and hiding the password', () =>
    expectStartRefused(
      { DUALWRITE_RELATIONAL: 'postgres', DATABASE_URL: 'postgres://postgres:s3cret-pw@127.0.0.1:1/test' },
      {
        where: 'cannot connect to PostgreSQL at 127.0.0.1:1/test (schema public)',
        code: 'ECONNREFUSED',
        secret: 's3cret',
      },
    ));
});
