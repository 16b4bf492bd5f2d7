import { SchemaVersionError, ValidationError } from '@dualwrite/core';
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

/**
 * A migration of the store. Declare whether a release that does not know it may still use a schema it was
 * applied to: during a rolling deploy old and new processes share one database, and a rollback starts the
 * old release on the migrated schema.
 */
export interface StoreMigration extends Migration {
  /**
   * `true` when a release without this migration must not use a schema that has it (the migration changes
   * what existing columns mean, drops or renames one, adds a NOT NULL column without a default, …): such a
   * release then refuses to start with `SchemaVersionError`. Default `false`: the migration only adds what
   * older releases never touch (tables, nullable or defaulted columns, indexes, functions).
   */
  breaksOlderReleases?: boolean;
}

/**
 * Meta key (`<prefix>meta`) naming the oldest migration a release must know to use the schema: the newest
 * applied migration with `breaksOlderReleases`, else the first one. Written as each migration is applied.
 */
export const SCHEMA_REQUIRES_KEY = 'schema.requires';

/** The migration creating the meta table: requirements are recorded from it on. */
const META_MIGRATION = '0002_meta';

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

// biome-ignore lint/suspicious/noExplicitAny: the store's tables are addressed by runtime names
type AnyDb = Kysely<any>;

/** Where the store's tables live, and how a dialect without transactional DDL repeats a step. */
export interface StoreMigrationOptions {
  /** The schema holding the tables (PostgreSQL). */
  schema?: string;
  /**
   * For a dialect whose DDL is not transactional (MySQL): makes every step safe to repeat after a start
   * was killed half-way (the migration is only recorded once it completed) — tables are created
   * `IF NOT EXISTS`, columns added only when missing, and an index creation failing with an error this
   * predicate accepts (the index exists) is skipped. `extra` must then be repeatable too.
   */
  existingIndexError?: (error: unknown) => boolean;
}

/** The schema builder for the store's tables: in `options.schema`, creating tables `IF NOT EXISTS` when resumable. */
function schemaBuilder(db: AnyDb, options: StoreMigrationOptions) {
  const builder = options.schema === undefined ? db.schema : db.schema.withSchema(options.schema);
  const resumable = options.existingIndexError !== undefined;
  return {
    createTable: (name: string) =>
      resumable ? builder.createTable(name).ifNotExists() : builder.createTable(name),
    createIndex: (name: string) => builder.createIndex(name),
    alterTable: (name: string) => builder.alterTable(name),
  };
}

/** Runs an index creation, skipping it where the index exists and the dialect repeats steps (see above). */
async function createIndexOnce(
  create: { execute(): Promise<void> },
  options: StoreMigrationOptions,
): Promise<void> {
  try {
    await create.execute();
  } catch (error) {
    if (!options.existingIndexError?.(error)) throw error;
  }
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
  options: StoreMigrationOptions & { extra?: (db: Kysely<unknown>) => Promise<void> } = {},
): Record<string, StoreMigration> {
  const schema = (db: AnyDb) => schemaBuilder(db, options);
  const ignoreExistingIndex = (create: { execute(): Promise<void> }) => createIndexOnce(create, options);
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
        await ignoreExistingIndex(
          types.partialIndex
            ? due.columns(['next_attempt_at', 'enqueued_at']).where(sql.ref('state'), '=', 'pending')
            : due.columns(['state', 'next_attempt_at', 'enqueued_at']),
        );
        await s
          .createTable(tables.intents)
          .addColumn('token', types.key, (c) => c.notNull().primaryKey())
          .addColumn('record_id', types.key, notNull)
          .addColumn('version', types.int, notNull)
          .addColumn('expires_at', types.int, notNull)
          .execute();
        await ignoreExistingIndex(
          s.createIndex(tables.intentsExpiryIndex).on(tables.intents).column('expires_at'),
        );
        await s
          .createTable(tables.embeddingCache)
          .addColumn('key', types.key, (c) => c.notNull().primaryKey())
          .addColumn('embedding', types.blob, notNull)
          .execute();
      },
    },
    [META_MIGRATION]: {
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
 * The migration that lets the embedding cache expire: `embedding_cache.used_at` (Unix ms an entry was last put
 * or refreshed) and its index `<prefix>embedding_cache_used`. The column is added with the upgrade's time as its
 * default, which stamps the entries already there without rewriting a row (metadata only on PostgreSQL ≥ 11,
 * MariaDB ≥ 10.3 and MySQL ≥ 8.0, and in SQLite), so they age from the upgrade; the default then becomes 0. A
 * break-it round measured the alternative, an `UPDATE` of every row: 18.5 s for 600,000 rows on PostgreSQL, the
 * cache locked throughout (other processes' cache writes failed at their lock timeout), against 0.7 s this way
 * (the index). Not breaking: an older release never reads the column, and its inserts get the default — 0 (pruned
 * first), or in SQLite, whose column defaults cannot change, the upgrade's time. Each dialect places it after its
 * own migrations (its name must sort after every applied one).
 * @param options.fixedColumnDefaults - the dialect cannot change a column's default (SQLite).
 */
export function embeddingCacheExpiryMigration(
  tables: SqlTableNames,
  types: Pick<SqlColumnTypes, 'int'>,
  options: StoreMigrationOptions & { fixedColumnDefaults?: boolean } = {},
): StoreMigration {
  return {
    async up(db: AnyDb): Promise<void> {
      const s = schemaBuilder(db, options);
      const upgradedAt = Date.now();
      if (!(await hasColumn(db, tables.embeddingCache, 'used_at', options)))
        await s
          .alterTable(tables.embeddingCache)
          .addColumn('used_at', types.int, (c) => c.notNull().defaultTo(upgradedAt))
          .execute();
      if (!options.fixedColumnDefaults)
        await s
          .alterTable(tables.embeddingCache)
          .alterColumn('used_at', (c) => c.setDefault(0))
          .execute();
      await createIndexOnce(
        s.createIndex(tables.embeddingCacheUsedIndex).on(tables.embeddingCache).column('used_at'),
        options,
      );
    },
  };
}

/**
 * Whether `table` has `column` already: asked only where steps are repeated after a killed start (see
 * {@link StoreMigrationOptions.existingIndexError}); elsewhere a migration runs whole or not at all.
 */
async function hasColumn(
  db: AnyDb,
  table: string,
  column: string,
  options: StoreMigrationOptions,
): Promise<boolean> {
  if (options.existingIndexError === undefined) return false;
  const found = await db.introspection.getTables();
  return found.some(
    (t) =>
      t.name === table &&
      (options.schema === undefined || t.schema === options.schema) &&
      t.columns.some((c) => c.name === column),
  );
}

/** The columns the store reads and writes, per table of its first two migrations. */
function storeColumns(tables: SqlTableNames): [table: string, columns: string[]][] {
  return [
    [
      tables.records,
      [
        'id',
        'text',
        'embedding',
        'metadata',
        'version',
        'deleted',
        'content_hash',
        'synced_version',
        'created_at',
        'updated_at',
      ],
    ],
    [
      tables.outbox,
      [
        'record_id',
        'version',
        'op',
        'state',
        'attempts',
        'next_attempt_at',
        'enqueued_at',
        'last_error',
        'lease_owner',
        'lease_token',
        'lease_until',
        'lease_version',
      ],
    ],
    [tables.intents, ['token', 'record_id', 'version', 'expires_at']],
    [tables.embeddingCache, ['key', 'embedding']],
    [tables.meta, ['key', 'value']],
  ];
}

/**
 * Before the first migration: refuses a table under one of the store's names that lacks the store's columns —
 * the application's own table, or another library's, under the same name. The migrations would otherwise fail
 * on it with the driver's error (SQLite, PostgreSQL) or, where tables are created `IF NOT EXISTS` so that a
 * killed first start can resume (MySQL), adopt it and fail on every write. The store's own tables left by a
 * killed first start pass.
 * @throws {ValidationError} on `tablePrefix`, naming the table and the columns it lacks.
 */
async function refuseForeignTables(db: AnyDb, tables: SqlTableNames, schema?: string): Promise<void> {
  const found = await db.introspection.getTables();
  for (const [table, columns] of storeColumns(tables)) {
    const existing = found.find((t) => t.name === table && (schema === undefined || t.schema === schema));
    if (existing === undefined) continue;
    const missing = columns.filter((c) => !existing.columns.some((m) => m.name === c));
    if (missing.length > 0)
      throw new ValidationError(
        'tablePrefix',
        `the table ${schema === undefined ? '' : `${schema}.`}${table} exists and is not dualwrite's (it has no ${missing.join(', ')}): choose another tablePrefix${schema === undefined ? '' : ' or schema'}`,
        { component: 'sql' },
      );
  }
}

/** `db` addressing the store's tables in `schema` (PostgreSQL), or as it is. */
export function inSchema(db: AnyDb, schema: string | undefined): AnyDb {
  return schema === undefined ? db : db.withSchema(schema);
}

/** The names in `<prefix>migrations` (none while the table does not exist). */
async function appliedMigrations(db: AnyDb, tables: SqlTableNames, schema?: string): Promise<string[]> {
  try {
    const rows = await inSchema(db, schema).selectFrom(tables.migrations).select('name').execute();
    return rows.map((r: { name: string }) => r.name);
  } catch {
    // No bookkeeping table yet (a new database); were the database unreachable, the migrator fails next.
    return [];
  }
}

/** The schema's {@link SCHEMA_REQUIRES_KEY}, if recorded (`null` also while there is no meta table). */
export async function recordedRequirement(
  db: AnyDb,
  tables: SqlTableNames,
  schema?: string,
): Promise<string | null> {
  try {
    const row = await inSchema(db, schema)
      .selectFrom(tables.meta)
      .select('value')
      .where('key', '=', SCHEMA_REQUIRES_KEY)
      .executeTakeFirst();
    return (row as { value: string } | undefined)?.value ?? null;
  } catch {
    return null;
  }
}

/**
 * `migrations`, each also recording {@link SCHEMA_REQUIRES_KEY} as it is applied (in the migration's own
 * transaction where the dialect's DDL is transactional, and under the migrator's lock everywhere): once the
 * meta table exists, the newest breaking migration so far, else the first migration.
 */
function recordingRequirement(
  tables: SqlTableNames,
  migrations: Record<string, StoreMigration>,
  schema?: string,
): Record<string, Migration> {
  const names = Object.keys(migrations).sort();
  const out: Record<string, Migration> = {};
  let requires = names[0]!;
  let metaExists = false;
  for (const name of names) {
    const migration = migrations[name]!;
    if (migration.breaksOlderReleases) requires = name;
    const value = requires;
    const recordsNow: boolean = metaExists || name === META_MIGRATION;
    metaExists = recordsNow;
    out[name] = {
      async up(db: AnyDb) {
        await migration.up(db);
        if (!recordsNow) return;
        // Read, then insert or update (under the migrator's lock): an UPDATE's affected-row count cannot tell
        // "absent" from "unchanged" on every driver (MySQL without CLIENT_FOUND_ROWS reports 0 for both).
        const scoped = inSchema(db, schema);
        const current = await recordedRequirement(db, tables, schema);
        if (current === null)
          await scoped.insertInto(tables.meta).values({ key: SCHEMA_REQUIRES_KEY, value }).execute();
        else if (current !== value)
          await scoped
            .updateTable(tables.meta)
            .set({ value })
            .where('key', '=', SCHEMA_REQUIRES_KEY)
            .execute();
      },
    };
  }
  return out;
}

/**
 * Whether this release may use a schema that has `unknown` migrations (applied by a newer release): only when
 * every migration it knows is applied and the schema's recorded requirement is one of them.
 * @throws {SchemaVersionError} otherwise.
 */
async function acceptNewerSchema(
  db: AnyDb,
  tables: SqlTableNames,
  migrations: Record<string, StoreMigration>,
  applied: readonly string[],
  unknown: string[],
  schema?: string,
): Promise<void> {
  const requires = await recordedRequirement(db, tables, schema);
  const allKnownApplied = Object.keys(migrations).every((name) => applied.includes(name));
  if (requires === null || !Object.hasOwn(migrations, requires) || !allKnownApplied)
    throw new SchemaVersionError(unknown, requires);
}

/**
 * Brings the schema up to date with Kysely's {@link Migrator} on `db` (bookkeeping in `<prefix>migrations`,
 * in `schema` when given); a no-op when it is current. A schema a newer release migrated further is used
 * as it is when it records that this release may (see {@link StoreMigration.breaksOlderReleases}): older
 * and newer processes then share it during a rolling deploy, and a rollback starts.
 * @returns the names of the migrations applied now.
 * @throws {SchemaVersionError} when a newer release applied a migration this one cannot work with; the
 *   migration error otherwise.
 */
export async function runMigrations(
  db: AnyDb,
  tables: SqlTableNames,
  migrations: Record<string, StoreMigration>,
  schema?: string,
): Promise<string[]> {
  const unknownOf = (applied: readonly string[]) =>
    applied.filter((name) => !Object.hasOwn(migrations, name));
  let applied = await appliedMigrations(db, tables, schema);
  // Current already: nothing to run and no DDL, so a role with only DML privileges (the migrations were run by
  // an owner role) starts.
  if (Object.keys(migrations).every((name) => applied.includes(name)) && unknownOf(applied).length === 0)
    return [];
  if (applied.length === 0) await refuseForeignTables(db, tables, schema);
  if (unknownOf(applied).length === 0) {
    const migrator = new Migrator({
      db,
      provider: { getMigrations: async () => recordingRequirement(tables, migrations, schema) },
      ...(schema === undefined ? {} : { migrationTableSchema: schema }),
      migrationTableName: tables.migrations,
      migrationLockTableName: tables.migrationLock,
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error === undefined)
      return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    // A newer release may have migrated between the read above and the migrator's own.
    applied = await appliedMigrations(db, tables, schema);
    if (unknownOf(applied).length === 0) throw error;
  }
  await acceptNewerSchema(db, tables, migrations, applied, unknownOf(applied), schema);
  return [];
}
