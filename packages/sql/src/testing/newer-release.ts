import assert from 'node:assert/strict';
import {
  type Change,
  type RelationalStore,
  SchemaVersionError,
  type WriteResult,
  writeChangesWithOutbox,
} from '@dualwrite/core';
import type { Kysely } from 'kysely';
import {
  inSchema,
  recordedRequirement,
  runMigrations,
  SCHEMA_REQUIRES_KEY,
  type StoreMigration,
} from '../sql-migrations.js';
import type { SqlTableNames } from '../sql-table-names.js';

/** A SQL store of this release, with what the check needs to play a newer release on its database. */
export interface SqlStoreUnderTest extends RelationalStore {
  // biome-ignore lint/suspicious/noExplicitAny: the store's tables are addressed by runtime names
  readonly kysely: Kysely<any>;
  readonly tableNames: SqlTableNames;
}

/** What {@link checkSchemaFromNewerRelease} needs of a dialect. */
export interface NewerReleaseFixture {
  /** A new, not yet initialised store of this release on the test's database (the same one each call). */
  open(): SqlStoreUnderTest | Promise<SqlStoreUnderTest>;
  /** This release's migrations for those tables: what a newer release extends. */
  migrations: Record<string, StoreMigration>;
  /** PostgreSQL: the schema of the tables. */
  schema?: string;
}

const NOW = 1_700_000_000_000;

/** Puts record `id` through the store's transaction path (every store has it). */
function put(store: RelationalStore, id: string, now: number): Promise<WriteResult[]> {
  const change: Change = {
    op: 'put',
    record: { id, text: `text of ${id}`, metadata: {}, embedding: [1, 0] },
  };
  return store.transaction((tx) => writeChangesWithOutbox(tx, [change], now));
}

/**
 * Rolling deploys and rollbacks: a store of this release on a schema a newer release migrated further.
 *
 * 1. A newer release adds a migration that only adds (a table): this release's `init()` succeeds without
 *    touching the schema, reads the rows written before and writes new ones; the schema records
 *    {@link SCHEMA_REQUIRES_KEY} = the first migration.
 * 2. A newer release adds a migration declared `breaksOlderReleases`: `init()` refuses with
 *    `SchemaVersionError` naming the unknown migrations and the requirement, and writes nothing.
 * 3. A schema with unknown migrations that records no requirement is refused too.
 * 4. The newer release's own migrations re-run as a no-op.
 *
 * Closes the stores it opens; the fixture's database is the caller's to drop.
 * @throws an `AssertionError` on a violation.
 */
export async function checkSchemaFromNewerRelease(fixture: NewerReleaseFixture): Promise<void> {
  const { schema } = fixture;
  const first = await fixture.open();
  const stores: RelationalStore[] = [first];
  try {
    await first.init();
    await put(first, 'before', NOW);
    const db = first.kysely;
    const tables = first.tableNames;
    const requirement = () => recordedRequirement(db, tables, schema);

    const additive: Record<string, StoreMigration> = {
      ...fixture.migrations,
      '9001_newer_table': {
        async up(m) {
          await (schema === undefined ? m.schema : m.schema.withSchema(schema))
            .createTable(`${tables.meta}_newer`)
            .addColumn('id', 'integer', (c) => c.primaryKey())
            .execute();
        },
      },
    };
    assert.deepEqual(await runMigrations(db, tables, additive, schema), ['9001_newer_table']);
    assert.equal(await requirement(), Object.keys(fixture.migrations).sort()[0]);

    const older = await fixture.open();
    stores.push(older);
    await older.init();
    assert.equal((await older.getRecords(['before'])).get('before')?.text, 'text of before');
    const [written] = await put(older, 'after', NOW + 1);
    assert.equal(written?.changed, true, 'this release writes on a schema a newer release added to');

    const breaking: Record<string, StoreMigration> = {
      ...additive,
      '9002_breaking': { breaksOlderReleases: true, async up() {} },
    };
    assert.deepEqual(await runMigrations(db, tables, breaking, schema), ['9002_breaking']);
    assert.equal(await requirement(), '9002_breaking');
    assert.deepEqual(await runMigrations(db, tables, breaking, schema), [], 're-running is a no-op');

    /** A new store's `init()` failure, which must be a `SchemaVersionError`. */
    const refusal = async (): Promise<SchemaVersionError> => {
      const store = await fixture.open();
      stores.push(store);
      const error = await store.init().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof SchemaVersionError, `expected SchemaVersionError, got ${String(error)}`);
      return error;
    };
    const error = await refusal();
    assert.deepEqual(error.unknownMigrations, ['9001_newer_table', '9002_breaking']);
    assert.equal(error.requires, '9002_breaking');
    assert.equal(error.retryable, false);

    await inSchema(db, schema).deleteFrom(tables.meta).where('key', '=', SCHEMA_REQUIRES_KEY).execute();
    assert.equal((await refusal()).requires, null);
    assert.equal((await first.getRecords(['after'])).get('after')?.text, 'text of after');
  } finally {
    for (const store of stores) await store.close().catch(() => {});
  }
}
