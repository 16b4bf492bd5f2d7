/**
 * Production roles: the migrations run once as an owner role, the application then runs as a role with only
 * DML privileges (no CREATE on the database or the schema). Before, every `init()` ran
 * `CREATE SCHEMA IF NOT EXISTS`, which needs CREATE on the database even when the schema exists, so such an
 * application could not start; and a missing privilege surfaced as an untyped driver error.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackendUnavailableError, createDualWrite, type StrategyName } from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresRelationalStore } from '../src/index.js';
import { adminQuery, DATABASE_URL, testSchema } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A login role `dw_app_<random>` (dropped after the test) and the URL that connects as it. */
async function loginRole(): Promise<{ role: string; url: string }> {
  const role = `dw_app_${randomBytes(5).toString('hex')}`;
  await adminQuery(`CREATE ROLE "${role}" LOGIN`);
  cleanups.push(async () => {
    await adminQuery(`DROP OWNED BY "${role}"`);
    await adminQuery(`DROP ROLE "${role}"`);
  });
  const url = new URL(DATABASE_URL);
  url.username = role;
  url.password = '';
  return { role, url: url.toString() };
}

/** A schema migrated by the owner (the test server's superuser). */
async function migratedSchema() {
  const schema = testSchema();
  cleanups.push(() => schema.drop());
  const owner = schema.store();
  await owner.init();
  await owner.close();
  return schema;
}

/** The privileges an application role needs on a migrated schema, and no more. */
async function grantDml(schema: string, role: string): Promise<void> {
  for (const grant of [
    `GRANT USAGE ON SCHEMA "${schema}" TO "${role}"`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO "${role}"`,
    `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "${schema}" TO "${role}"`,
    `GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA "${schema}" TO "${role}"`,
  ])
    await adminQuery(grant);
}

describe('an application role with only DML privileges', () => {
  for (const strategy of ['sync-2pc', 'batch'] satisfies StrategyName[])
    it(`${strategy}: starts on a schema the owner migrated, writes, delivers and reconciles`, async () => {
      const { schema } = await migratedSchema();
      const { role, url } = await loginRole();
      await grantDml(schema, role);
      const dir = await mkdtemp(join(tmpdir(), 'dw-pg-roles-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const relational = new PostgresRelationalStore({ connectionString: url, schema, poolSize: 3 });
      const vector = await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: 3 });
      const dw = await createDualWrite({ relational, vector, strategy });
      try {
        for (let i = 0; i < 5; i++)
          await dw.put({ id: `r${i}`, text: `t${i}`, metadata: {}, embedding: [1, i, 0] });
        await dw.putMany(
          [0, 1, 2].map((i) => ({ id: `r${i}`, text: `u${i}`, metadata: {}, embedding: [i, 1, 0] })),
        );
        await dw.delete('r4');
        await dw.flush({ timeoutMs: 20_000 });
        expect((await dw.get('r1'))?.text).toBe('u1');
        expect(await dw.reconcile({ dryRun: true })).toMatchObject({
          missing: 0,
          stale: 0,
          mismatched: 0,
          orphans: 0,
        });
        expect(await vector.count()).toBe(4);
      } finally {
        await dw.close();
      }
    });

  it('without privileges on the store’s tables, init() fails with BackendUnavailableError naming 42501', async () => {
    const { schema } = await migratedSchema();
    const { role, url } = await loginRole();
    await adminQuery(`GRANT USAGE ON SCHEMA "${schema}" TO "${role}"`);
    const store = new PostgresRelationalStore({ connectionString: url, schema, poolSize: 2 });
    try {
      const error = await store.init().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect((error as Error).message).toContain('42501');
    } finally {
      await store.close();
    }
  });

  it('a role at its connection limit when the worker starts: it starts, delivers by polling, and listens once a connection is free', async () => {
    const { schema } = await migratedSchema();
    const { role, url } = await loginRole();
    await grantDml(schema, role);
    await adminQuery(`ALTER ROLE "${role}" CONNECTION LIMIT 1`); // the pool's one connection, none for LISTEN
    const dir = await mkdtemp(join(tmpdir(), 'dw-pg-limit-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const relational = new PostgresRelationalStore({ connectionString: url, schema, poolSize: 1 });
    const vector = await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: 3 });
    // Before, the LISTEN connection's "too many connections for role" (53300) rejected createDualWrite.
    const dw = await createDualWrite({ relational, vector, strategy: 'batch' });
    try {
      expect((await dw.stats()).wakeUps).toMatchObject({ listening: false });
      await dw.put({ id: 'polled', text: 't', metadata: {}, embedding: [1, 0, 0] });
      await dw.flush({ timeoutMs: 20_000 });
      expect((await vector.getVersions(['polled'])).get('polled')).toBe(1);
      await adminQuery(`ALTER ROLE "${role}" CONNECTION LIMIT 2`);
      const until = Date.now() + 15_000;
      while (!(await dw.stats()).wakeUps?.listening && Date.now() < until)
        await new Promise((r) => setTimeout(r, 100));
      expect((await dw.stats()).wakeUps, 'the listener reconnected by itself').toMatchObject({
        listening: true,
      });
    } finally {
      await dw.close();
    }
  });
});
