import {
  embeddingCacheExpiryMigration,
  runMigrations,
  type SqlColumnTypes,
  type StoreMigration,
  storeMigrations,
} from '@dualwrite/sql';
import type { SqliteKysely, SqliteTableNames } from './sqlite-relational-store-options.js';

/**
 * Schema version this package writes: the number of migrations in {@link sqliteMigrations}. Kysely records
 * the applied ones in `<prefix>migrations`.
 */
export const SQLITE_SCHEMA_VERSION = 3;

const SQLITE_COLUMN_TYPES: SqlColumnTypes = {
  key: 'text',
  text: 'text',
  json: 'text',
  blob: 'blob',
  int: 'integer',
  bool: 'integer',
  short: 'text',
  partialIndex: false,
};

/**
 * The store's migrations (`storeMigrations` of `@dualwrite/sql`) in SQLite's types: ids `TEXT` (compared
 * by code point), integers `INTEGER`, `deleted` 0|1, embeddings `BLOB`, metadata JSON `TEXT`; the due index
 * `(state, next_attempt_at, enqueued_at)`; plus `sequence(name TEXT PK, value)` seeded with
 * `('version', 0)`, which feeds `nextVersion()`. `0003_embedding_cache_expiry` adds the cache's `used_at` (see
 * `embeddingCacheExpiryMigration`).
 */
export function sqliteMigrations(tables: SqliteTableNames): Record<string, StoreMigration> {
  const shared = storeMigrations(tables, SQLITE_COLUMN_TYPES, {
    async extra(db) {
      await (db as SqliteKysely).schema
        .createTable(tables.sequence)
        .addColumn('name', 'text', (c) => c.primaryKey().notNull())
        .addColumn('value', 'integer', (c) => c.notNull())
        .execute();
      await (db as SqliteKysely).insertInto(tables.sequence).values({ name: 'version', value: 0 }).execute();
    },
  });
  return {
    ...shared,
    '0003_embedding_cache_expiry': embeddingCacheExpiryMigration(tables, SQLITE_COLUMN_TYPES, {
      fixedColumnDefaults: true,
    }),
  };
}

/**
 * Brings the schema to {@link SQLITE_SCHEMA_VERSION}; a no-op when it is already there. Kysely runs SQLite
 * migrations without a transaction, so call this inside a `BEGIN IMMEDIATE` transaction that the caller
 * commits: SQLite DDL is transactional, the write lock makes concurrent starts of several processes safe,
 * and a failed migration leaves nothing behind.
 * @returns the names of the migrations applied now (empty when the schema was current).
 * @throws the migration error, or an `Error` when the file has migrations this version does not know.
 */
export function migrateSqliteSchema(db: SqliteKysely, tables: SqliteTableNames): Promise<string[]> {
  return runMigrations(db, tables, sqliteMigrations(tables));
}
