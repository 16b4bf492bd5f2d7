import { type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import type { SqliteKysely, SqliteTableNames } from './sqlite-relational-store-options.js';

/**
 * Schema version this package writes: the number of migrations in {@link sqliteMigrations}. Migration
 * names are `0001_...`, `0002_...`; Kysely records the applied ones in `<prefix>migrations`.
 */
export const SQLITE_SCHEMA_VERSION = 2;

/**
 * The store's migrations, keyed by name (applied in name order). Table and index names come from
 * `tables`, so two stores with different prefixes can share one database file.
 *
 * Schema (version 1), all times Unix ms, versions from the store-wide sequence:
 * - `records(id TEXT PK, text, embedding BLOB (float32 LE) NULL, metadata TEXT (JSON), version, deleted 0|1,
 *   content_hash, synced_version NULL, created_at, updated_at)`;
 * - `sequence(name TEXT PK, value)` seeded with `('version', 0)`;
 * - `outbox(record_id TEXT PK, version, op 'upsert'|'delete', state 'pending'|'dead', attempts,
 *   next_attempt_at, enqueued_at, last_error NULL, lease_owner NULL, lease_token NULL, lease_until NULL,
 *   lease_version NULL)` with index `(state, next_attempt_at, enqueued_at)`; `lease_version` is the
 *   entry's version when it was claimed;
 * - `intents(token TEXT PK, record_id, version, expires_at)` with index `(expires_at)`;
 * - `embedding_cache(key TEXT PK, embedding BLOB)`.
 *
 * Version 2 adds `meta(key TEXT PK, value TEXT)`: facts about the store such as the vector index it is
 * bound to. A file written by version 1 gains the table on the next `init()`.
 */
export function sqliteMigrations(tables: SqliteTableNames): Record<string, Migration> {
  return {
    '0001_initial': {
      async up(db: SqliteKysely): Promise<void> {
        await db.schema
          .createTable(tables.records)
          .addColumn('id', 'text', (c) => c.primaryKey().notNull())
          .addColumn('text', 'text', (c) => c.notNull())
          .addColumn('embedding', 'blob')
          .addColumn('metadata', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('deleted', 'integer', (c) => c.notNull().check(sql`deleted IN (0, 1)`))
          .addColumn('content_hash', 'text', (c) => c.notNull())
          .addColumn('synced_version', 'integer')
          .addColumn('created_at', 'integer', (c) => c.notNull())
          .addColumn('updated_at', 'integer', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable(tables.sequence)
          .addColumn('name', 'text', (c) => c.primaryKey().notNull())
          .addColumn('value', 'integer', (c) => c.notNull())
          .execute();
        await db.insertInto(tables.sequence).values({ name: 'version', value: 0 }).execute();

        await db.schema
          .createTable(tables.outbox)
          .addColumn('record_id', 'text', (c) => c.primaryKey().notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('op', 'text', (c) => c.notNull().check(sql`op IN ('upsert', 'delete')`))
          .addColumn('state', 'text', (c) => c.notNull().check(sql`state IN ('pending', 'dead')`))
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('next_attempt_at', 'integer', (c) => c.notNull())
          .addColumn('enqueued_at', 'integer', (c) => c.notNull())
          .addColumn('last_error', 'text')
          .addColumn('lease_owner', 'text')
          .addColumn('lease_token', 'text')
          .addColumn('lease_until', 'integer')
          .addColumn('lease_version', 'integer')
          .execute();
        await db.schema
          .createIndex(tables.outboxDueIndex)
          .on(tables.outbox)
          .columns(['state', 'next_attempt_at', 'enqueued_at'])
          .execute();

        await db.schema
          .createTable(tables.intents)
          .addColumn('token', 'text', (c) => c.primaryKey().notNull())
          .addColumn('record_id', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('expires_at', 'integer', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex(tables.intentsExpiryIndex)
          .on(tables.intents)
          .column('expires_at')
          .execute();

        await db.schema
          .createTable(tables.embeddingCache)
          .addColumn('key', 'text', (c) => c.primaryKey().notNull())
          .addColumn('embedding', 'blob', (c) => c.notNull())
          .execute();
      },
    },
    '0002_meta': {
      async up(db: SqliteKysely): Promise<void> {
        await db.schema
          .createTable(tables.meta)
          .addColumn('key', 'text', (c) => c.primaryKey().notNull())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
      },
    },
  };
}

/** A static Kysely {@link MigrationProvider} over {@link sqliteMigrations}. */
export class SqliteMigrationProvider implements MigrationProvider {
  readonly #tables: SqliteTableNames;

  /** @param tables - table names (with the prefix applied) the migrations create. */
  constructor(tables: SqliteTableNames) {
    this.#tables = tables;
  }

  /** The migrations of {@link sqliteMigrations} for this provider's table names. */
  async getMigrations(): Promise<Record<string, Migration>> {
    return sqliteMigrations(this.#tables);
  }
}

/**
 * Brings the schema to {@link SQLITE_SCHEMA_VERSION} with Kysely's {@link Migrator}; a no-op when it is
 * already there.
 *
 * Kysely runs SQLite migrations without a transaction, so call this on a connection-bound Kysely inside
 * a `BEGIN IMMEDIATE` transaction that the caller commits: SQLite DDL is transactional, the write lock
 * makes concurrent starts of several processes safe, and a failed migration leaves nothing behind.
 *
 * @returns the names of the migrations applied now (empty when the schema was current).
 * @throws the migration error (e.g. a `SqliteError`), or an `Error` when the database has applied
 *   migrations this version does not know (it was written by a newer version of this package).
 */
export async function migrateSqliteSchema(db: SqliteKysely, tables: SqliteTableNames): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: new SqliteMigrationProvider(tables),
    migrationTableName: tables.migrations,
    migrationLockTableName: tables.migrationLock,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
