import type { RelationalStore } from '@dualwrite/core';
import { type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import { inStorage, type StoreKysely, SUMMARIES_TABLE, type SummaryStorage } from './table.js';

/**
 * Kysely's bookkeeping tables for this service's migrations (distinct from the stores' `dw_migrations`; on
 * PostgreSQL they live in the configured schema, like the `summaries` table).
 */
export const SUMMARY_MIGRATION_TABLES = Object.freeze({
  migrations: 'demo_api_migrations',
  lock: 'demo_api_migrations_lock',
});

/** Column types of the `summaries` table per dialect. */
const SUMMARY_TYPES = {
  sqlite: { fqn: 'text', level: 'text', summary: 'text', version: 'integer' },
  // `COLLATE "C"`: byte order, i.e. code point order, whatever the database's default collation.
  postgres: { fqn: sql`text COLLATE "C"`, level: 'text', summary: 'text', version: 'bigint' },
  // VARBINARY: exact and code point ordered (MySQL's collations fold case or pad spaces); an indexed column
  // cannot be TEXT.
  mysql: {
    fqn: sql`VARBINARY(1536)`, // 512 UTF-16 code units (the API's limit), at most 3 bytes each
    level: sql`VARCHAR(16)`,
    summary: sql`LONGTEXT CHARACTER SET utf8mb4`,
    version: 'bigint',
  },
} as const;

/**
 * Migrations of the service's own tables for one SQL dialect, applied in name order.
 * - `0001_summaries`: `summaries(target_fqn PK, summary, level, stale 0|1, version, created_at, updated_at)`
 *   with an index on `(level, stale, target_fqn)` for filtered listings. Times are `bigint` (Unix ms).
 *   `target_fqn` compares bytes, i.e. Unicode code points ({@link SUMMARY_TYPES}), so that `ORDER BY` and the
 *   keyset cursor's `>` agree with the stores' own id listings; `version` is 64-bit (the store's versions are).
 */
export function summaryMigrations(dialect: SummaryStorage['dialect']): Readonly<Record<string, Migration>> {
  const types = SUMMARY_TYPES[dialect];
  return Object.freeze({
    '0001_summaries': {
      async up(db: StoreKysely): Promise<void> {
        await db.schema
          .createTable(SUMMARIES_TABLE)
          .addColumn('target_fqn', types.fqn, (c) => c.primaryKey().notNull())
          .addColumn('summary', types.summary, (c) => c.notNull())
          .addColumn('level', types.level, (c) =>
            c.notNull().check(sql`level IN ('method', 'class', 'module', 'package')`),
          )
          .addColumn('stale', 'integer', (c) => c.notNull().check(sql`stale IN (0, 1)`))
          .addColumn('version', types.version, (c) => c.notNull())
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
}

/** A static Kysely {@link MigrationProvider} over {@link summaryMigrations} of one dialect. */
export class SummaryMigrationProvider implements MigrationProvider {
  readonly #dialect: SummaryStorage['dialect'];
  constructor(dialect: SummaryStorage['dialect']) {
    this.#dialect = dialect;
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    return { ...summaryMigrations(this.#dialect) };
  }
}

/**
 * Brings the service's tables up to date with Kysely's {@link Migrator}, safe for concurrent starts.
 * - SQLite: in one store transaction (`BEGIN IMMEDIATE`: the write lock serialises starts, SQLite DDL is
 *   transactional, a failed migration leaves nothing behind).
 * - MySQL: outside a transaction (DDL commits implicitly), under the migrator's own named lock.
 * - PostgreSQL: on one pooled connection holding a session-level advisory lock per schema; the Migrator
 *   runs the pending migrations in a transaction of its own (Kysely 0.28's Migrator needs a connection,
 *   not a transaction).
 * @param reader - the store's Kysely (outside transactions).
 * @returns the migrations applied now.
 * @throws the migration's error.
 */
export async function runSummaryMigrations(
  relational: RelationalStore<StoreKysely>,
  reader: StoreKysely,
  storage: SummaryStorage,
): Promise<string[]> {
  if (storage.dialect === 'sqlite')
    return relational.transaction((tx) => migrateSummaries(tx.native, storage));
  // MySQL DDL commits implicitly, so no transaction: Kysely's migrator holds a named lock (GET_LOCK) instead.
  if (storage.dialect === 'mysql') return migrateSummaries(reader, storage);
  const key = sql`hashtextextended(${`dualwrite-demo-api/migrations/${storage.schema}`}, 0)`;
  return reader.connection().execute(async (conn) => {
    await sql`SELECT pg_advisory_lock(${key})`.execute(conn);
    try {
      return await migrateSummaries(conn, storage);
    } finally {
      await sql`SELECT pg_advisory_unlock(${key})`.execute(conn);
    }
  });
}

/** Runs the Migrator on `db` (a transaction-bound Kysely on SQLite, a connection on PostgreSQL). */
async function migrateSummaries(db: StoreKysely, storage: SummaryStorage): Promise<string[]> {
  const migrator = new Migrator({
    db: inStorage(db, storage),
    provider: new SummaryMigrationProvider(storage.dialect),
    migrationTableName: SUMMARY_MIGRATION_TABLES.migrations,
    migrationLockTableName: SUMMARY_MIGRATION_TABLES.lock,
    // Without it Kysely would look for its tables in every schema of the database (and find another
    // instance's), then read and write them through the search_path.
    ...(storage.dialect === 'postgres' ? { migrationTableSchema: storage.schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
