import assert from 'node:assert/strict';
import { ValidationError } from '@dualwrite/core';
import { inSchema } from '../sql-migrations.js';
import type { SqlStoreUnderTest } from './newer-release.js';

/** What {@link checkForeignTableRefused} needs of a dialect. */
export interface ForeignTableFixture {
  /** A new, not yet initialised store of this release on an empty database (or schema) of the test's. */
  open(): SqlStoreUnderTest | Promise<SqlStoreUnderTest>;
  /** PostgreSQL: the schema of the tables (created by the check when missing). */
  schema?: string;
}

/**
 * A table of the application's under the name of the store's records table: `init()` refuses with a
 * `ValidationError` on `tablePrefix` before creating anything, and the application's table and row are left
 * as they were.
 *
 * Closes the store it opens; the fixture's database is the caller's to drop.
 * @throws an `AssertionError` on a violation.
 */
export async function checkForeignTableRefused(fixture: ForeignTableFixture): Promise<void> {
  const store = await fixture.open();
  try {
    const db = store.kysely;
    if (fixture.schema !== undefined) await db.schema.createSchema(fixture.schema).ifNotExists().execute();
    const scoped = inSchema(db, fixture.schema);
    const table = store.tableNames.records;
    await scoped.schema
      .createTable(table)
      .addColumn('id', 'varchar(20)', (c) => c.primaryKey())
      .addColumn('body', 'varchar(200)')
      .execute();
    await scoped.insertInto(table).values({ id: 'user-1', body: 'the application’s row' }).execute();
    const error = await store.init().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(
      error instanceof ValidationError,
      `init() on a foreign ${table} must refuse, got ${String(error)}`,
    );
    assert.equal(error.field, 'tablePrefix');
    assert.match(error.message, new RegExp(`${table}.*content_hash`));
    assert.deepEqual(await scoped.selectFrom(table).selectAll().execute(), [
      { id: 'user-1', body: 'the application’s row' },
    ]);
    const names = (await db.introspection.getTables())
      .filter((t) => fixture.schema === undefined || t.schema === fixture.schema)
      .map((t) => t.name);
    assert.ok(!names.includes(store.tableNames.outbox), 'nothing of the store was created');
  } finally {
    await store.close();
  }
}
