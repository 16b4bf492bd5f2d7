import assert from 'node:assert/strict';
import type { EmbeddingCache } from '@dualwrite/core';
import { sql } from 'kysely';
import { inSchema, runMigrations, type StoreMigration } from '../sql-migrations.js';
import { embeddingBytes } from '../sql-rows.js';
import type { SqlStoreUnderTest } from './newer-release.js';

/** What {@link checkCacheExpiryUpgrade} needs of a dialect. */
export interface CacheExpiryUpgradeFixture {
  /** A new, not yet initialised store of this release on the test's empty database (the same one each call). */
  open(): SqlStoreUnderTest | Promise<SqlStoreUnderTest>;
  /** This release's migrations for those tables; the release before had those named before `expiry`. */
  migrations: Record<string, StoreMigration>;
  /** The name of the migration adding `embedding_cache.used_at` in this dialect. */
  expiry: string;
  /** PostgreSQL: the schema of the tables (created here when missing). */
  schema?: string;
  /**
   * A dialect whose DDL is not transactional (MySQL): the release before's schema also carries the column, as a
   * start of this release killed right after adding it leaves it (unrecorded), and the migration must finish.
   */
  killedAfterAddingColumn?: boolean;
}

type Store = SqlStoreUnderTest & Required<EmbeddingCache>;

/**
 * The embedding cache's expiry on a database the release before wrote: its entries are stamped with the
 * upgrade's time (kept by a prune of entries unused for a minute, not deleted as if never used), an older process
 * still writing the cache during a rolling deploy gets entries marked at the upgrade at the latest, and this
 * release marks, refreshes and prunes as the contract says.
 *
 * Closes the stores it opens; the fixture's database is the caller's to drop.
 * @throws an `AssertionError` on a violation.
 */
export async function checkCacheExpiryUpgrade(fixture: CacheExpiryUpgradeFixture): Promise<void> {
  const { schema } = fixture;
  const older = (await fixture.open()) as Store;
  const stores: Store[] = [older];
  try {
    const db = older.kysely;
    const tables = older.tableNames;
    if (schema !== undefined) await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db);
    const before = Object.fromEntries(
      Object.entries(fixture.migrations).filter(([name]) => name < fixture.expiry),
    );
    assert.ok(
      Object.keys(before).length < Object.keys(fixture.migrations).length,
      `no migration ${fixture.expiry}`,
    );
    await runMigrations(db, tables, before, schema);
    /** A cache write of the release before: the key and the embedding only. */
    const olderPut = (key: string) =>
      inSchema(db, schema)
        .insertInto(tables.embeddingCache)
        .values({ key, embedding: embeddingBytes([1, 2]) })
        .execute();
    await olderPut('model:before');
    const start = Date.now();
    if (fixture.killedAfterAddingColumn)
      await inSchema(db, schema)
        .schema.alterTable(tables.embeddingCache)
        .addColumn('used_at', 'bigint', (c) => c.notNull().defaultTo(start))
        .execute();

    const upgraded = (await fixture.open()) as Store;
    stores.push(upgraded);
    await upgraded.init();
    assert.deepEqual(
      [...(await upgraded.getCachedEmbeddings(['model:before']))],
      [['model:before', [1, 2]]],
      'the entry of the release before is read as written',
    );
    assert.equal(
      await upgraded.pruneCachedEmbeddings(start - 60_000, 10),
      0,
      'the entry of the release before ages from the upgrade',
    );
    // A process of the release before, still running during the rolling deploy, writes the cache as it did: its
    // entry is marked at the upgrade at the latest (0 where the dialect could reset the column's default).
    await olderPut('model:older-process');
    await upgraded.putCachedEmbeddings([{ key: 'model:this-release', embedding: [3, 4] }], {
      usedAt: start + 1_000_000,
    });
    const olderFirst = await upgraded.pruneCachedEmbeddings(start - 60_000, 10);
    assert.ok(olderFirst <= 1, `only the older process's entry may be that old (${olderFirst} pruned)`);
    const found = await upgraded.getCachedEmbeddings([
      'model:before',
      'model:older-process',
      'model:this-release',
    ]);
    assert.ok(found.has('model:before') && found.has('model:this-release'));
    // 'model:before', marked used again an hour on (its mark, the upgrade's time, older than half an hour then),
    // outlives the older process's entry and this release's, put some 17 minutes after the upgrade.
    await upgraded.getCachedEmbeddings(['model:before'], {
      refresh: { usedAt: start + 3_600_000, staleBefore: start + 1_800_000 },
    });
    assert.equal(await upgraded.pruneCachedEmbeddings(start + 3_000_000, 10), 2 - olderFirst);
    assert.deepEqual(
      [
        ...(
          await upgraded.getCachedEmbeddings(['model:before', 'model:older-process', 'model:this-release'])
        ).keys(),
      ],
      ['model:before'],
    );
    const applied = await inSchema(db, schema).selectFrom(tables.migrations).select('name').execute();
    assert.deepEqual(
      applied.map((r: { name: string }) => r.name).sort(),
      Object.keys(fixture.migrations).sort(),
    );
  } finally {
    for (const store of stores) await store.close().catch(() => {});
  }
}
