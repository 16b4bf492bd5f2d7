/**
 * The service on MySQL / MariaDB + LanceDB over real HTTP: the shared strategy suite for each strategy, then
 * what a server dialect must do like the others (`server-dialect-checks.ts`) and what is MySQL's own: its
 * tables and column types, fqns a folding collation would merge, concurrent migrations. Every app gets a
 * fresh database on the test server (`DUALWRITE_TEST_MYSQL_URL`, default the CI server
 * `mysql://root@127.0.0.1:3306`), dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { MysqlRelationalStore } from '@dualwrite/mysql';
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Started, startApp, summary } from './helpers.js';
import {
  expectMigrationsAppliedOnce,
  expectSameListingAsSqlite,
  expectSerialisedConcurrentBatches,
  expectStartRefused,
} from './server-dialect-checks.js';
import { STRATEGIES, strategySuite } from './strategy-suite.js';

const SERVER_URL = process.env.DUALWRITE_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const RUN = `demo_api_test_${randomBytes(4).toString('hex')}`;
const databases: string[] = [];

async function admin<T = unknown>(text: string, values: unknown[] = []): Promise<T> {
  const connection = await createConnection({ uri: SERVER_URL });
  try {
    return (await connection.query(text, values))[0] as T;
  } finally {
    await connection.end();
  }
}

/** A fresh database for this run (created now, dropped in `afterAll`); its URL. */
function freshDatabase(name: string): { name: string; url: string } {
  const database = `${RUN}_${name.replace(/-/g, '_')}`;
  databases.push(database);
  return { name: database, url: `${SERVER_URL}/${database}` };
}

beforeAll(async () => {
  for (const name of databases) await admin(`CREATE DATABASE \`${name}\``);
});
afterAll(async () => {
  for (const name of databases) await admin(`DROP DATABASE IF EXISTS \`${name}\``);
});

for (const strategy of STRATEGIES)
  strategySuite(strategy, {
    relational: { kind: 'mysql', url: freshDatabase(strategy).url },
    vector: 'lancedb',
  });

describe('MySQL specifics', () => {
  const database = freshDatabase('specifics');
  let my: Started;
  let lite: Started;

  beforeAll(async () => {
    [my, lite] = await Promise.all([
      startApp({ relational: { kind: 'mysql', url: database.url } }),
      startApp({ relational: { kind: 'sqlite' } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([my?.stop(), lite?.stop()]);
  });

  it('lists in code point order with the same pages and cursors as SQLite', () =>
    expectSameListingAsSqlite(my, lite));

  it('keeps its tables in the database of the URL; fqns are exact bytes whatever the collation', async () => {
    const tables = await admin<{ TABLE_NAME: string }[]>(
      'SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
      [database.name],
    );
    expect(tables.map((t) => t.TABLE_NAME)).toEqual(
      expect.arrayContaining(['demo_api_migrations', 'dw_records', 'dw_lock_slots', 'summaries']),
    );
    const described = (await my.request('GET', '/sync/status')).body.backends.relational as string;
    expect(described).toMatch(new RegExp(`^mysql \\S+/${database.name} \\(prefix dw_\\)$`));
    // Distinct fqns that a case- or accent-folding collation would merge.
    const fqns = ['k.Doc', 'k.doc', 'k.DOC', 'k.dóc', 'k.straße', 'k.strasse'];
    const body = { summaries: fqns.map((f) => summary(f, `text of [${f}]`)) };
    for (const app of [my, lite]) {
      expect((await app.request('POST', '/summaries', body)).status).toBe(201);
      for (const f of fqns)
        expect((await app.request('GET', `/summaries/${encodeURIComponent(f)}`)).body).toMatchObject({
          targetFqn: f,
          summary: `text of [${f}]`,
        });
    }
  });

  it('serialises concurrent batches over the same fqns: no deadlock, no lost update, one creation', () =>
    expectSerialisedConcurrentBatches(my));

  it('applies its migrations once when instances start at the same time', async () => {
    const target = freshDatabase('migrate');
    await admin(`CREATE DATABASE \`${target.name}\``);
    const stores = [0, 1, 2].map(
      () => new MysqlRelationalStore({ connectionString: target.url, poolSize: 2 }),
    );
    try {
      await expectMigrationsAppliedOnce(stores, { dialect: 'mysql' } as const);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('refuses to start when the server cannot be reached, naming relational.url and hiding the password', () =>
    expectStartRefused(
      { DUALWRITE_RELATIONAL: 'mysql', DATABASE_URL: 'mysql://root:s3cret-pw@127.0.0.1:1/test' },
      { where: 'cannot connect to MySQL at 127.0.0.1:1/test', code: 'ECONNREFUSED', secret: 's3cret' },
    ));
});
