import { createHash } from 'node:crypto';
import {
  embeddingCacheExpiryMigration,
  runMigrations,
  type StoreMigration,
  storeMigrations,
} from '@dualwrite/sql';
import {
  CompiledQuery,
  type DatabaseConnection,
  Kysely,
  PostgresAdapter,
  PostgresDialect,
  sql,
  type TransactionSettings,
} from 'kysely';
import type pg from 'pg';
import { ackFunctionMigration } from './postgres-ack-function.js';
import { LockTimeoutDriver } from './postgres-lock-timeout-driver.js';
import { PostgresQueries } from './postgres-queries.js';
import type { PostgresKysely, PostgresTableNames } from './postgres-relational-store-options.js';
import { twoPhaseFunctionsMigration } from './postgres-two-phase-functions.js';
import { indexLookupsMigration, writeFunctionMigration } from './postgres-write-function.js';
import { writeOneMigration } from './postgres-write-one.js';

/**
 * Schema version this package writes: the number of migrations in {@link postgresMigrations}. Migration
 * names are `0001_...`, `0002_...`; Kysely records the applied ones in `<schema>.<prefix>migrations`.
 */
export const POSTGRES_SCHEMA_VERSION = 12;

/**
 * The store's migrations (`storeMigrations` of `@dualwrite/sql`) in PostgreSQL's types, in `tables.schema`
 * (each set applied in one transaction: PostgreSQL DDL is transactional). Ids and keys are
 * `text COLLATE "C"`, so comparisons and `ORDER BY id` use byte order, which for UTF-8 is Unicode code point
 * order (the order `listVersions` promises, and the one the vector adapters page in). Times and versions
 * `bigint`; `deleted` `boolean`; embeddings `bytea`; `metadata` `json` rather than `jsonb` (`json` keeps the
 * exact text and accepts the `\u0000` escape, which `jsonb` rejects). The due index is partial,
 * `(next_attempt_at, enqueued_at) WHERE state = 'pending'`. Plus `SEQUENCE version_seq AS bigint` (no cache,
 * so values are handed out in increasing order across sessions). `0003_write_function` installs the
 * one-round-trip write function (see {@link writeFunctionMigration}), `0004_two_phase_functions` sync-2pc's
 * (see {@link twoPhaseFunctionsMigration}), `0005_index_lookups` indexes the intents by record (see
 * {@link indexLookupsMigration}), `0006_functions_and_ack` recreates the write and sync-2pc functions from
 * this release's SQL and settings (index lookups: `FUNCTION_SETTINGS`) and installs the one-round-trip ack
 * (see {@link ackFunctionMigration}), `0007_hash_given_embedding` recreates the write function, and
 * `0008_call_locks` adds the write and sync-2pc functions' variants that take how to lock (see
 * `callLocksParameters`), and `0009_outlived_intents` recreates those sync-2pc functions from this release's SQL
 * (a commit whose intent is gone is refused), and `0010_embedding_cache_expiry` adds the cache's `used_at` (see
 * `embeddingCacheExpiryMigration`), and `0011_packed_embeddings` adds the write and sync-2pc commit functions'
 * variants that take the embeddings as one binary parameter (see `EmbeddingsInput`), and `0012_write_one` the
 * write function's one-change twin (see {@link writeOneMigration}).
 */
export function postgresMigrations(tables: PostgresTableNames): Record<string, StoreMigration> {
  const shared = storeMigrations(
    tables,
    {
      key: sql`text COLLATE "C"`,
      text: 'text',
      json: 'json',
      blob: 'bytea',
      int: 'bigint',
      bool: 'boolean',
      short: 'text',
      partialIndex: true,
    },
    {
      schema: tables.schema,
      async extra(db) {
        await sql`CREATE SEQUENCE ${sql.id(tables.schema, tables.versionSequence)}
          AS bigint MINVALUE 1 START WITH 1 CACHE 1 NO CYCLE`.execute(db);
      },
    },
  );
  const q = new PostgresQueries(tables);
  return {
    ...shared,
    '0003_write_function': writeFunctionMigration(tables, q),
    '0004_two_phase_functions': twoPhaseFunctionsMigration(tables, q),
    '0005_index_lookups': indexLookupsMigration(tables),
    '0006_functions_and_ack': {
      // The write and sync-2pc functions again, from this release's SQL (an enqueue now marks a leased entry
      // overtaken; see core's `overtaken`), then the ack function.
      async up(db) {
        await writeFunctionMigration(tables, q).up!(db);
        await twoPhaseFunctionsMigration(tables, q).up!(db);
        await ackFunctionMigration(tables, q).up!(db);
      },
    },
    '0007_hash_given_embedding': {
      // The write function again: a put that reuses the stored embedding keeps the hash over the embedding the
      // caller gave (none), as core's `planOne` does, so an embedding the embedder filled stays known as such.
      async up(db) {
        await writeFunctionMigration(tables, q).up!(db);
      },
    },
    '0008_call_locks': {
      // The write and sync-2pc functions with two last parameters: `p_try_locks` (a call for several ids only
      // tries their locks, so it never waits for one while holding another: an application transaction taking
      // the same ids in another order deadlocked with it) and `p_lock_timeout_ms` (the call's own lock_timeout,
      // which a session SET cannot guarantee behind a transaction pooler). The functions without them stay for
      // older processes.
      async up(db) {
        await writeFunctionMigration(tables, q, 'by-parameter').up!(db);
        await twoPhaseFunctionsMigration(tables, q, 'by-parameter').up!(db);
      },
    },
    '0009_outlived_intents': {
      // The sync-2pc commit function again: a write whose intent recovery resolved is refused (`INTENT_GONE`)
      // rather than committed over a record its repair may have rewritten (see core's `commitStep`).
      async up(db) {
        await twoPhaseFunctionsMigration(tables, q, 'by-parameter').up!(db);
      },
    },
    '0010_embedding_cache_expiry': embeddingCacheExpiryMigration(
      tables,
      { int: 'bigint' },
      { schema: tables.schema },
    ),
    '0011_packed_embeddings': {
      // The write and sync-2pc commit functions taking every embedding in one `bytea` sent in binary, instead of
      // a `bytea[]` the driver sends as hex text. The variants with the array stay for older processes.
      async up(db) {
        await writeFunctionMigration(tables, q, 'by-parameter', 'packed').up!(db);
        await twoPhaseFunctionsMigration(tables, q, 'by-parameter', 'packed').up!(db);
      },
    },
    '0012_write_one': writeOneMigration(tables, q),
  };
}

/**
 * Key of the transaction-scoped advisory lock {@link migratePostgresSchema} holds: a signed 64-bit integer (as
 * a decimal string) derived from the schema name. Per schema, not per table prefix: stores with different
 * prefixes in one schema would otherwise race on creating the schema; stores in different schemas do not
 * wait for each other.
 */
export function migrationLockKey(tables: PostgresTableNames): string {
  const digest = createHash('sha256').update(`dualwrite:migrate:${tables.schema}`).digest();
  return digest.readBigInt64BE(0).toString();
}

/**
 * Brings the schema to {@link POSTGRES_SCHEMA_VERSION}; a no-op when it is already there. Safe to run from
 * several processes at once, and through a pooler in transaction mode (PgBouncer's `pool_mode = transaction`,
 * where consecutive statements outside a transaction may run on different server sessions), because every
 * lock it takes is transaction-scoped (`pg_advisory_xact_lock` on {@link migrationLockKey}, waiting up to
 * `lock_timeout`; PostgreSQL docs §13.3.5 "Advisory Locks"):
 *
 * 1. when the schema is missing, one transaction takes the lock and runs `CREATE SCHEMA` unless another
 *    process just did (`CREATE SCHEMA IF NOT EXISTS` alone is not race-free: two sessions can both miss the
 *    schema and one then fails on a unique index of the catalog). Skipped when the schema exists, so a role
 *    without CREATE on the database starts;
 * 2. Kysely's `Migrator` on `pool` (bookkeeping in `<schema>.<prefix>migrations`; pending migrations applied
 *    in one transaction, so a failed migration leaves nothing behind), whose transaction takes the lock
 *    right after `BEGIN`, before the migrator reads what is applied.
 *
 * Why not Kysely's own migration lock: it is session-level (`pg_advisory_lock`, one key for every Kysely
 * application on the database), taken and released in statements of their own around the migration's
 * transaction. Behind a transaction pooler those run on different server sessions: the lock stays held on
 * one, and every later `init()` that lands on another waits for it, up to an hour (seen with PgBouncer 1.18
 * in transaction mode).
 *
 * @param db - the store's Kysely instance.
 * @param pool - the pool under `db` (the migrator gets a Kysely instance of its own on it; it is not ended).
 * @returns the names of the migrations applied now (empty when the schema was current).
 * @throws the migration or connection error (node-postgres `DatabaseError`, ...), SQLSTATE `55P03` when the
 *   lock was not granted in time, or an `Error` when the database has applied migrations this version does
 *   not know (it was written by a newer version of this package).
 */
export async function migratePostgresSchema(
  db: PostgresKysely,
  pool: pg.Pool,
  tables: PostgresTableNames,
  lockTimeoutMs: number,
): Promise<string[]> {
  const lock = CompiledQuery.raw(`SELECT pg_advisory_xact_lock(${migrationLockKey(tables)}::bigint)`);
  const schemaExists = async (conn: PostgresKysely) =>
    (await sql`SELECT 1 FROM pg_namespace WHERE nspname = ${tables.schema}`.execute(conn)).rows.length > 0;
  // Only when missing: `CREATE SCHEMA IF NOT EXISTS` needs CREATE on the database even when the schema is
  // there, which an application role with only DML privileges does not have.
  if (!(await schemaExists(db))) {
    await db.transaction().execute(async (trx) => {
      await trx.executeQuery(lock);
      if (!(await schemaExists(trx))) await sql`CREATE SCHEMA ${sql.id(tables.schema)}`.execute(trx);
    });
  }
  class TransactionLockedDriver extends LockTimeoutDriver {
    override async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
      await super.beginTransaction(connection, settings);
      try {
        await connection.executeQuery(lock);
      } catch (error) {
        // Kysely rolls back only transactions that began: without this the connection would go back to the
        // pool inside the aborted transaction, failing whatever runs on it next.
        await connection.executeQuery(CompiledQuery.raw('ROLLBACK')).catch(() => {});
        throw error;
      }
    }
  }
  const migrating = new Kysely<unknown>({
    dialect: new (class extends PostgresDialect {
      override createAdapter() {
        return new TransactionLockedAdapter();
      }
      override createDriver() {
        return new TransactionLockedDriver({ pool }, lockTimeoutMs);
      }
    })({ pool }),
  });
  return runMigrations(migrating, tables, postgresMigrations(tables), tables.schema);
}

/** Kysely's PostgreSQL adapter without its session-level migration lock (the driver's transactions lock). */
class TransactionLockedAdapter extends PostgresAdapter {
  override async acquireMigrationLock(): Promise<void> {}
  override async releaseMigrationLock(): Promise<void> {}
}
