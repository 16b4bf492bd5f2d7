import { createHash } from 'node:crypto';
import { type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import type { PostgresKysely, PostgresTableNames } from './postgres-relational-store-options.js';

/**
 * Schema version this package writes: the number of migrations in {@link postgresMigrations}. Migration
 * names are `0001_...`, `0002_...`; Kysely records the applied ones in `<schema>.<prefix>migrations`.
 */
export const POSTGRES_SCHEMA_VERSION = 2;

/**
 * The store's migrations, keyed by name (applied in name order, each set in one transaction: PostgreSQL DDL
 * is transactional). Object names come from `tables`, so stores with different schemas or prefixes can share
 * one database.
 *
 * Schema (version 1). Times are Unix ms (`bigint`), versions come from the sequence; ids are
 * `text COLLATE "C"`, so comparisons and `ORDER BY id` use byte order, which for UTF-8 is Unicode code point
 * order (the order `listVersions` promises, and the one the vector adapters page in):
 * - `records(id PK, text, embedding bytea NULL (float32 LE), metadata json, version bigint, deleted boolean,
 *   content_hash, synced_version bigint NULL, created_at bigint, updated_at bigint)`. `metadata` is `json`
 *   rather than `jsonb`: `json` keeps the exact text (key order, number spelling) and accepts the `\u0000`
 *   escape, which `jsonb` rejects; both can be queried with `->>`.
 * - `SEQUENCE version_seq AS bigint` (no cache, so values are handed out in increasing order across
 *   sessions);
 * - `outbox(record_id PK, version bigint, op 'upsert'|'delete', state 'pending'|'dead', attempts int,
 *   next_attempt_at, enqueued_at, last_error NULL, lease_owner NULL, lease_token NULL, lease_until NULL,
 *   lease_version NULL)` with the partial index `(next_attempt_at, enqueued_at) WHERE state = 'pending'` that
 *   claims scan in order; `lease_version` is the entry's version when it was claimed;
 * - `intents(token PK, record_id, version bigint, expires_at bigint)` with an index on `expires_at`;
 * - `embedding_cache(key PK, embedding bytea)`.
 *
 * Version 2 adds `meta(key PK, value text)`: facts about the store such as the vector index it is bound
 * to. A schema written by version 1 gains the table on the next `init()`.
 */
export function postgresMigrations(tables: PostgresTableNames): Record<string, Migration> {
  const t = (name: string) => sql.id(tables.schema, name);
  const id = (name: string) => sql.id(name);
  return {
    '0001_initial': {
      async up(db: PostgresKysely): Promise<void> {
        await sql`
          CREATE TABLE ${t(tables.records)} (
            id text COLLATE "C" NOT NULL PRIMARY KEY,
            text text NOT NULL,
            embedding bytea,
            metadata json NOT NULL,
            version bigint NOT NULL,
            deleted boolean NOT NULL,
            content_hash text NOT NULL,
            synced_version bigint,
            created_at bigint NOT NULL,
            updated_at bigint NOT NULL
          )`.execute(db);
        await sql`CREATE SEQUENCE ${t(tables.versionSequence)} AS bigint MINVALUE 1 START WITH 1 CACHE 1 NO CYCLE`.execute(
          db,
        );
        await sql`
          CREATE TABLE ${t(tables.outbox)} (
            record_id text COLLATE "C" NOT NULL PRIMARY KEY,
            version bigint NOT NULL,
            op text NOT NULL CHECK (op IN ('upsert', 'delete')),
            state text NOT NULL CHECK (state IN ('pending', 'dead')),
            attempts integer NOT NULL,
            next_attempt_at bigint NOT NULL,
            enqueued_at bigint NOT NULL,
            last_error text,
            lease_owner text,
            lease_token text,
            lease_until bigint,
            lease_version bigint
          )`.execute(db);
        await sql`
          CREATE INDEX ${id(tables.outboxDueIndex)} ON ${t(tables.outbox)} (next_attempt_at, enqueued_at)
          WHERE state = 'pending'`.execute(db);
        await sql`
          CREATE TABLE ${t(tables.intents)} (
            token text NOT NULL PRIMARY KEY,
            record_id text COLLATE "C" NOT NULL,
            version bigint NOT NULL,
            expires_at bigint NOT NULL
          )`.execute(db);
        await sql`CREATE INDEX ${id(tables.intentsExpiryIndex)} ON ${t(tables.intents)} (expires_at)`.execute(
          db,
        );
        await sql`
          CREATE TABLE ${t(tables.embeddingCache)} (
            key text NOT NULL PRIMARY KEY,
            embedding bytea NOT NULL
          )`.execute(db);
      },
    },
    '0002_meta': {
      async up(db: PostgresKysely): Promise<void> {
        await sql`
          CREATE TABLE ${t(tables.meta)} (
            key text COLLATE "C" NOT NULL PRIMARY KEY,
            value text NOT NULL
          )`.execute(db);
      },
    },
  };
}

/** A static Kysely {@link MigrationProvider} over {@link postgresMigrations}. */
export class PostgresMigrationProvider implements MigrationProvider {
  readonly #tables: PostgresTableNames;

  /** @param tables - object names (schema and prefix applied) the migrations create. */
  constructor(tables: PostgresTableNames) {
    this.#tables = tables;
  }

  /** The migrations of {@link postgresMigrations} for this provider's names. */
  async getMigrations(): Promise<Record<string, Migration>> {
    return postgresMigrations(this.#tables);
  }
}

/**
 * Key of the session-level advisory lock {@link migratePostgresSchema} holds: a signed 64-bit integer (as a
 * decimal string) derived from the schema name. Per schema, not per table prefix: stores with different
 * prefixes in one schema would otherwise race on `CREATE SCHEMA IF NOT EXISTS`; stores in different schemas
 * do not wait for each other.
 */
export function migrationLockKey(tables: PostgresTableNames): string {
  const digest = createHash('sha256').update(`dualwrite:migrate:${tables.schema}`).digest();
  return digest.readBigInt64BE(0).toString();
}

/**
 * Brings the schema to {@link POSTGRES_SCHEMA_VERSION}; a no-op when it is already there. Safe to run from
 * several processes at once:
 *
 * 1. on one connection of `db`, takes the session-level advisory lock {@link migrationLockKey}
 *    (`pg_advisory_lock`, waiting up to the connection's `lock_timeout`; PostgreSQL docs §13.3.5
 *    "Advisory Locks");
 * 2. `CREATE SCHEMA IF NOT EXISTS` (which alone is not race-free: two sessions can both miss the schema and
 *    one then fails on a unique index of the catalog — hence the lock);
 * 3. runs Kysely's {@link Migrator} on that connection (bookkeeping in `<schema>.<prefix>migrations`; pending
 *    migrations applied in one transaction, so a failed migration leaves nothing behind);
 * 4. releases the lock (also on failure; a crashed process releases it by disconnecting).
 *
 * @returns the names of the migrations applied now (empty when the schema was current).
 * @throws the migration or connection error (node-postgres `DatabaseError`, ...), SQLSTATE `55P03` when the
 *   lock was not granted in time, or an `Error` when the database has applied migrations this version does
 *   not know (it was written by a newer version of this package).
 */
export async function migratePostgresSchema(
  db: PostgresKysely,
  tables: PostgresTableNames,
): Promise<string[]> {
  const key = migrationLockKey(tables);
  return db.connection().execute(async (conn) => {
    await sql`SELECT pg_advisory_lock(${key}::bigint)`.execute(conn);
    try {
      await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(tables.schema)}`.execute(conn);
      const migrator = new Migrator({
        db: conn,
        provider: new PostgresMigrationProvider(tables),
        migrationTableSchema: tables.schema,
        migrationTableName: tables.migrations,
        migrationLockTableName: tables.migrationLock,
      });
      const { error, results } = await migrator.migrateToLatest();
      if (error !== undefined) throw error;
      return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    } finally {
      try {
        await sql`SELECT pg_advisory_unlock(${key}::bigint)`.execute(conn);
      } catch {
        // The connection is gone: the server released the session lock with it.
      }
    }
  });
}
