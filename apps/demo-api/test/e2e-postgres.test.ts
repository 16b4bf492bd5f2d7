/**
 * The service on PostgreSQL + LanceDB over real HTTP: the shared strategy suite (`strategy-suite.ts`) for
 * each strategy, then what is PostgreSQL-specific: where the tables live and their column types, listing
 * order and cursors identical to SQLite, concurrent migrations, and the startup error for an unreachable
 * server. Every app gets a fresh schema of the test database (`DUALWRITE_TEST_DATABASE_URL`, default the CI
 * server `postgres://postgres@127.0.0.1:5432/test`), dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { BackendStartError } from '@dualwrite/config';
import { compareCodePoints } from '@dualwrite/core/testing';
import { PostgresRelationalStore } from '@dualwrite/postgres';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { buildServer } from '../src/server.js';
import { runSummaryMigrations } from '../src/summaries/migrations.js';
import { type Answer, type Json, type Started, startApp, summary, tempDir } from './helpers.js';
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

  it('lists in code point order with the same pages and cursors as SQLite', async () => {
    // Case, accents, a fullwidth letter (U+FF21) and an astral one (U+1F600): a locale collation, or
    // JavaScript's UTF-16 order, would sort some of these differently.
    const fqns = ['x.b', 'x.B', 'x.a', 'x.Z9', 'x.é', 'x.e', 'x.Ａ', 'x.😀', 'x.ä', 'x._', 'x.a.b', 'x.a-b'];
    const body = { summaries: fqns.map((f, i) => summary(f, `symbol ${i}`, i % 2 ? 'class' : 'method')) };
    const pages = async (app: Started, query: string) => {
      const seen: Json[] = [];
      let cursor: string | null = null;
      do {
        const r: Answer = await app.request(
          'GET',
          `/summaries?limit=5${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        seen.push({ fqns: r.body.items.map((s: Json) => s.targetFqn), cursor: r.body.nextCursor });
        cursor = r.body.nextCursor;
      } while (cursor);
      return seen;
    };
    for (const app of [pg, lite]) expect((await app.request('POST', '/summaries', body)).status).toBe(201);
    for (const query of ['', '&level=class', '&stale=false']) {
      const [onPg, onLite] = await Promise.all([pages(pg, query), pages(lite, query)]);
      expect(onPg, query).toEqual(onLite);
      if (query === '') expect(onPg.flatMap((p: Json) => p.fqns)).toEqual([...fqns].sort(compareCodePoints));
    }
    const item = (await pg.request('GET', `/summaries/${encodeURIComponent('x.😀')}`)).body;
    expect(item).toMatchObject({ targetFqn: 'x.😀', stale: false, level: 'class' });
    expect([typeof item.version, typeof item.createdAt, typeof item.updatedAt]).toEqual([
      'number',
      'number',
      'number',
    ]);
  });

  it('serialises concurrent batches over the same fqns: no deadlock, no lost update, one creation', async () => {
    const fqns = Array.from({ length: 20 }, (_, i) => `conc.mod.fn${String(i).padStart(2, '0')}`);
    // Writers against writers only: with delivery paused no outbox ack competes for the record locks (an
    // ack that could not get them within 250 ms waits for them in the store's hash order, which can deadlock
    // with a writer; PostgreSQL then aborts one of the two, a retryable 503 if it is the writer).
    expect((await pg.request('POST', '/sync/pause')).status).toBe(200);
    for (let round = 0; round < 3; round++) {
      const batch = (tag: string, order: string[]) => ({
        summaries: order.map((f) => summary(f, `${tag} wrote ${f} in round ${round}`)),
      });
      // Opposite orders: without a fixed lock order PostgreSQL would abort one of them (40P01).
      const answers = await Promise.all([
        pg.request('POST', '/summaries', batch('a', fqns)),
        pg.request('POST', '/summaries', batch('b', [...fqns].reverse())),
      ]);
      expect(answers.map((r) => r.status).sort(), JSON.stringify(answers.map((r) => r.body))).toEqual(
        round === 0 ? [200, 201] : [200, 200],
      );
      const outcomes = answers.flatMap((r, i) =>
        (r.body.results as Json[]).map((o) => ({ ...o, tag: i === 0 ? 'a' : 'b' })),
      );
      for (const fqn of fqns) {
        const mine = outcomes.filter((o) => o.targetFqn === fqn);
        expect(mine.filter((o) => o.created)).toHaveLength(round === 0 ? 1 : 0);
        // The row holds the later of the two writes, at its version.
        const last = mine.reduce((x, y) => (x.version > y.version ? x : y));
        const row = (await pg.request('GET', `/summaries/${fqn}`)).body;
        expect(row).toMatchObject({
          version: last.version,
          summary: `${last.tag} wrote ${fqn} in round ${round}`,
        });
      }
    }
    expect((await pg.request('POST', '/sync/resume')).status).toBe(200);
    expect((await pg.request('POST', '/sync/flush', { timeoutMs: 10_000 })).body).toMatchObject({
      pending: 0,
    });
  });

  it('applies its migrations once when instances start at the same time', async () => {
    const migrationSchema = freshSchema('migrate');
    const stores = [0, 1, 2].map(
      () =>
        new PostgresRelationalStore({ connectionString: DATABASE_URL, schema: migrationSchema, poolSize: 2 }),
    );
    try {
      await Promise.all(stores.map((s) => s.init()));
      const storage = { dialect: 'postgres', schema: migrationSchema } as const;
      const applied = await Promise.all(stores.map((s) => runSummaryMigrations(s, s.kysely, storage)));
      expect(applied.flat()).toEqual(['0001_summaries']);
      expect(await runSummaryMigrations(stores[0]!, stores[0]!.kysely, storage)).toEqual([]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('refuses to start when the server cannot be reached, naming relational.url and hiding the password', async () => {
    const temp = await tempDir();
    try {
      const config = loadConfig({
        env: {
          DUALWRITE_RELATIONAL: 'postgres',
          DATABASE_URL: 'postgres://postgres:s3cret-pw@127.0.0.1:1/test',
          DUALWRITE_DATA_DIR: temp.dir,
        },
        cwd: temp.dir,
      });
      const error = await buildServer(config).then(
        () => expect.unreachable('started'),
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(BackendStartError);
      const { message } = error as Error;
      expect(message).toContain('cannot connect to PostgreSQL at 127.0.0.1:1/test (schema public)');
      expect(message).toContain('ECONNREFUSED');
      expect(message).toContain('relational.url (DATABASE_URL)');
      expect(message).not.toContain('s3cret');
    } finally {
      await temp.remove();
    }
  });
});
