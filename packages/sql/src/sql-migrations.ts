import {
  type ColumnDataType,
  type ColumnDefinitionBuilder,
  type Expression,
  type Kysely,
  type Migration,
  Migrator,
  sql,
} from 'kysely';
import type { SqlTableNames } from './sql-table-names.js';

/** A column type: a Kysely data type name, or raw SQL such as `sql`text COLLATE "C"``. */
export type DataTypeExpression = ColumnDataType | Expression<unknown>;

/** Column types of the store's schema in one dialect (any Kysely data type, or raw SQL such as a collation). */
export interface SqlColumnTypes {
  /** Record ids, outbox and intent keys, cache and meta keys: compared exactly, ordered by code point. */
  key: DataTypeExpression;
  /** Free text (record text, last error, lease owner/token). */
  text: DataTypeExpression;
  /** Metadata as JSON text. */
  json: DataTypeExpression;
  /** float32 little-endian embeddings. */
  blob: DataTypeExpression;
  /** Versions and Unix ms times (64-bit). */
  int: DataTypeExpression;
  /** The tombstone flag; `0/1` integers get a CHECK. */
  bool: DataTypeExpression;
  /** Short enumerations (`op`, `state`) and the meta value. */
  short: DataTypeExpression;
  /** Whether the due-entry index is partial (`WHERE state = 'pending'`); otherwise it leads with `state`. */
  partialIndex: boolean;
}

/**
 * The store's migrations, written once for every dialect (applied in name order; Kysely records them in
 * `<prefix>migrations`). All times Unix ms, versions from the store-wide sequence. A dialect adds its own
 * objects (SQLite's sequence table, PostgreSQL's `SEQUENCE`) through `extra`.
 *
 * Version 1: `records(id PK, text, embedding NULL, metadata, version, deleted, content_hash,
 * synced_version NULL, created_at, updated_at)`; `outbox(record_id PK, version, op 'upsert'|'delete',
 * state 'pending'|'dead', attempts, next_attempt_at, enqueued_at, last_error, lease_owner, lease_token,
 * lease_until, lease_version)` with the due index; `intents(token PK, record_id, version, expires_at)` with an
 * index on `expires_at`; `embedding_cache(key PK, embedding)`. Version 2 adds `meta(key PK, value)`.
 */
export function storeMigrations(
  tables: SqlTableNames,
  types: SqlColumnTypes,
  options: { schema?: string; extra?: (db: Kysely<unknown>) => Promise<void> } = {},
): Record<string, Migration> {
  // biome-ignore lint/suspicious/noExplicitAny: the store's tables are addressed by runtime names
  const schema = (db: Kysely<any>) =>
    options.schema === undefined ? db.schema : db.schema.withSchema(options.schema);
  const notNull = (c: ColumnDefinitionBuilder) => c.notNull();
  return {
    '0001_initial': {
      // biome-ignore lint/suspicious/noExplicitAny: see above
      async up(db: Kysely<any>): Promise<void> {
        const s = schema(db);
        await s
          .createTable(tables.records)
          .addColumn('id', types.key, (c) => c.notNull().primaryKey())
          .addColumn('text', types.text, notNull)
          .addColumn('embedding', types.blob)
          .addColumn('metadata', types.json, notNull)
          .addColumn('version', types.int, notNull)
          .addColumn('deleted', types.bool, (c) =>
            types.bool === 'boolean' ? c.notNull() : c.notNull().check(sql`deleted IN (0, 1)`),
          )
          .addColumn('content_hash', types.short, notNull)
          .addColumn('synced_version', types.int)
          .addColumn('created_at', types.int, notNull)
          .addColumn('updated_at', types.int, notNull)
          .execute();
        await options.extra?.(db);
        await s
          .createTable(tables.outbox)
          .addColumn('record_id', types.key, (c) => c.notNull().primaryKey())
          .addColumn('version', types.int, notNull)
          .addColumn('op', types.short, (c) => c.notNull().check(sql`op IN ('upsert', 'delete')`))
          .addColumn('state', types.short, (c) => c.notNull().check(sql`state IN ('pending', 'dead')`))
          .addColumn('attempts', 'integer', notNull)
          .addColumn('next_attempt_at', types.int, notNull)
          .addColumn('enqueued_at', types.int, notNull)
          .addColumn('last_error', types.text)
          .addColumn('lease_owner', types.text)
          .addColumn('lease_token', types.short)
          .addColumn('lease_until', types.int)
          .addColumn('lease_version', types.int)
          .execute();
        const due = s.createIndex(tables.outboxDueIndex).on(tables.outbox);
        await (types.partialIndex
          ? due.columns(['next_attempt_at', 'enqueued_at']).where(sql.ref('state'), '=', 'pending')
          : due.columns(['state', 'next_attempt_at', 'enqueued_at'])
        ).execute();
        await s
          .createTable(tables.intents)
          .addColumn('token', types.key, (c) => c.notNull().primaryKey())
          .addColumn('record_id', types.key, notNull)
          .addColumn('version', types.int, notNull)
          .addColumn('expires_at', types.int, notNull)
          .execute();
        await s.createIndex(tables.intentsExpiryIndex).on(tables.intents).column('expires_at').execute();
        await s
          .createTable(tables.embeddingCache)
          .addColumn('key', types.key, (c) => c.notNull().primaryKey())
          .addColumn('embedding', types.blob, notNull)
          .execute();
      },
    },
    '0002_meta': {
      // biome-ignore lint/suspicious/noExplicitAny: see above
      async up(db: Kysely<any>): Promise<void> {
        await schema(db)
          .createTable(tables.meta)
          .addColumn('key', types.key, (c) => c.notNull().primaryKey())
          .addColumn('value', types.text, notNull)
          .execute();
      },
    },
  };
}

/**
 * Brings the schema up to date with Kysely's {@link Migrator} on `db` (bookkeeping in `<prefix>migrations`,
 * in `schema` when given); a no-op when it is current.
 * @returns the names of the migrations applied now.
 * @throws the migration error, or an `Error` when the database has applied migrations this version does not
 *   know (written by a newer version of the package).
 */
export async function runMigrations(
  // biome-ignore lint/suspicious/noExplicitAny: see storeMigrations
  db: Kysely<any>,
  tables: SqlTableNames,
  migrations: Record<string, Migration>,
  schema?: string,
): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
    migrationTableName: tables.migrations,
    migrationLockTableName: tables.migrationLock,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
