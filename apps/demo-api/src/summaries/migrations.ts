import { sql } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import { type StoreKysely, SUMMARIES_TABLE } from './table.js';

/** Kysely's bookkeeping tables for this service's migrations (distinct from the store's `dw_migrations`). */
export const SUMMARY_MIGRATION_TABLES = Object.freeze({
  migrations: 'demo_api_migrations',
  lock: 'demo_api_migrations_lock',
});

/**
 * Migrations of the service's own tables, applied in name order.
 * - `0001_summaries`: `summaries(target_fqn TEXT PK, summary, level, stale 0|1, version, created_at,
 *   updated_at)` with an index on `(level, stale, target_fqn)` for filtered listings.
 */
export const summaryMigrations: Readonly<Record<string, Migration>> = Object.freeze({
  '0001_summaries': {
    async up(db: StoreKysely): Promise<void> {
      await db.schema
        .createTable(SUMMARIES_TABLE)
        .addColumn('target_fqn', 'text', (c) => c.primaryKey().notNull())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('level', 'text', (c) =>
          c.notNull().check(sql`level IN ('method', 'class', 'module', 'package')`),
        )
        .addColumn('stale', 'integer', (c) => c.notNull().check(sql`stale IN (0, 1)`))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('summaries_level_stale')
        .on(SUMMARIES_TABLE)
        .columns(['level', 'stale', 'target_fqn'])
        .execute();
    },
    async down(db: StoreKysely): Promise<void> {
      await db.schema.dropTable(SUMMARIES_TABLE).execute();
    },
  },
});

/** A static Kysely {@link MigrationProvider} over {@link summaryMigrations}. */
export class SummaryMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return { ...summaryMigrations };
  }
}

/**
 * Brings the service's tables up to date with Kysely's {@link Migrator}. Run it on the Kysely instance of
 * a relational-store transaction (`dw.relational.transaction((tx) => migrateSummaries(tx.native))`) so a
 * failed migration leaves nothing behind and concurrent starts serialise on the store's write lock.
 * @returns the migrations applied now.
 * @throws the migration's error.
 */
export async function migrateSummaries(db: StoreKysely): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: new SummaryMigrationProvider(),
    migrationTableName: SUMMARY_MIGRATION_TABLES.migrations,
    migrationLockTableName: SUMMARY_MIGRATION_TABLES.lock,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
