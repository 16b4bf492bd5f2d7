import {
  embeddingCacheExpiryMigration,
  runMigrations,
  type SqlColumnTypes,
  type StoreMigration,
  storeMigrations,
} from '@dualwrite/sql';
import { Kysely, MysqlAdapter, MysqlDialect, type MysqlDialectConfig, type RawBuilder, sql } from 'kysely';
import type { MysqlKysely, MysqlTableNames } from './mysql-relational-store-options.js';

/** Schema version this package writes: the number of migrations in {@link mysqlMigrations}. */
export const MYSQL_SCHEMA_VERSION = 3;

/** Number of per-record lock slots (`slot` 0..65,535); ids hashing to one slot share its lock. */
export const LOCK_SLOTS = 65_536;

const utf8 = (type: string) => sql.raw(`${type} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);

const MYSQL_COLUMN_TYPES: SqlColumnTypes = {
  key: sql.raw('VARBINARY(1536)'),
  text: utf8('LONGTEXT'),
  json: utf8('LONGTEXT'),
  blob: sql.raw('LONGBLOB'),
  int: 'bigint',
  bool: sql.raw('TINYINT'),
  short: utf8('VARCHAR(255)'),
  partialIndex: false,
};

/**
 * MySQL DDL is not transactional: a start killed half-way leaves tables behind unrecorded, and the next start
 * repeats the migration, so every step is repeatable.
 */
const REPEATABLE = {
  existingIndexError: (error: unknown) => (error as { code?: unknown }).code === 'ER_DUP_KEYNAME',
};

/**
 * The store's migrations (`storeMigrations` of `@dualwrite/sql`) in MySQL's types. Ids and keys are
 * `VARBINARY(1536)` (512 UTF-16 code units at most 3 bytes each in UTF-8): compared byte by byte, so exactly
 * and case-sensitively, with no trailing-space padding (MySQL's default collations fold case, and `PAD SPACE`
 * collations ignore trailing spaces — either would merge distinct ids), and ordered by UTF-8 bytes, which is
 * code point order. Text `LONGTEXT` utf8mb4; times and versions `BIGINT`; `deleted` `TINYINT` 0|1; embeddings
 * `LONGBLOB`. Plus `version_seq(id BIGINT AUTO_INCREMENT)` behind `nextVersion()` and the lock slots.
 * `0003_embedding_cache_expiry` adds the cache's `used_at` (see `embeddingCacheExpiryMigration`).
 */
export function mysqlMigrations(tables: MysqlTableNames): Record<string, StoreMigration> {
  const shared = storeMigrations(tables, MYSQL_COLUMN_TYPES, {
    ...REPEATABLE,
    async extra(db) {
      const kysely = db as MysqlKysely;
      await kysely.schema
        .createTable(tables.versionSequence)
        .ifNotExists()
        .addColumn('id', 'bigint', (c) => c.notNull().primaryKey().autoIncrement())
        .execute();
      await kysely.schema
        .createTable(tables.lockSlots)
        .ifNotExists()
        .addColumn('slot', 'integer', (c) => c.notNull().primaryKey())
        .execute();
      for (let first = 0; first < LOCK_SLOTS; first += 4_096)
        await kysely
          .insertInto(tables.lockSlots)
          .ignore()
          .values(Array.from({ length: 4_096 }, (_, i) => ({ slot: first + i })))
          .execute();
    },
  });
  return {
    ...shared,
    '0003_embedding_cache_expiry': embeddingCacheExpiryMigration(tables, MYSQL_COLUMN_TYPES, REPEATABLE),
  };
}

/**
 * Brings the schema to {@link MYSQL_SCHEMA_VERSION}; a no-op when it is already there. MySQL DDL is not
 * transactional, so Kysely's migrator runs under a named lock (`GET_LOCK`) and concurrent starts of several
 * processes apply each migration once. The lock is the store's own (`StoreMigrationLock`), not Kysely's:
 * Kysely's has one name for every Kysely application on the server (lock names are server-wide), waits up to
 * an hour, and goes ahead without the lock when its wait times out (`GET_LOCK` returns 0 then, not an error).
 * @param dialect - the store's dialect configuration (pool and session settings): the migrator gets a Kysely
 *   instance of its own on it (not destroyed, so the pool stays open).
 * @param lockTimeoutMs - longest wait for another process's migration, ms (whole seconds, at least 1).
 * @returns the names of the migrations applied now.
 * @throws the migration error; an `Error` with code `ER_LOCK_WAIT_TIMEOUT` when another process held the
 *   lock past `lockTimeoutMs`; or an `Error` when the database has migrations this version does not know.
 */
export function migrateMysqlSchema(
  dialect: MysqlDialectConfig,
  tables: MysqlTableNames,
  lockTimeoutMs: number,
): Promise<string[]> {
  const lock = new StoreMigrationLock(tables.records, Math.max(1, Math.ceil(lockTimeoutMs / 1_000)));
  const migrating = new Kysely<unknown>({
    dialect: new (class extends MysqlDialect {
      override createAdapter() {
        return lock;
      }
    })(dialect),
  });
  return runMigrations(migrating, tables, mysqlMigrations(tables));
}

/**
 * Kysely's MySQL adapter with the store's migration lock: `GET_LOCK` on a name of the database and the table
 * prefix (`dw-migrate-` and 48 hex digits of their SHA-256: names are server-wide and at most 64 characters),
 * waiting `timeoutSeconds`; a wait that ends without the lock is an error, never a migration without it. The
 * server releases the lock if the connection dies.
 */
class StoreMigrationLock extends MysqlAdapter {
  readonly #name: RawBuilder<string>;
  readonly #timeoutSeconds: number;

  constructor(recordsTable: string, timeoutSeconds: number) {
    super();
    this.#name = sql<string>`CONCAT('dw-migrate-', LEFT(SHA2(CONCAT(DATABASE(), '.', ${recordsTable}), 256), 48))`;
    this.#timeoutSeconds = timeoutSeconds;
  }

  override async acquireMigrationLock(db: Kysely<unknown>): Promise<void> {
    const { rows } = await sql<{
      got: unknown;
    }>`SELECT GET_LOCK(${this.#name}, ${this.#timeoutSeconds}) AS got`.execute(db);
    if (Number(rows[0]?.got) !== 1)
      throw Object.assign(
        new Error(`migration lock not granted in ${this.#timeoutSeconds} s: another process is migrating`),
        { code: 'ER_LOCK_WAIT_TIMEOUT' },
      );
  }

  override async releaseMigrationLock(db: Kysely<unknown>): Promise<void> {
    await sql`SELECT RELEASE_LOCK(${this.#name})`.execute(db);
  }
}
