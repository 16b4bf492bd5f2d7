import { runMigrations, type StoreMigration, storeMigrations } from '@dualwrite/sql';
import { sql } from 'kysely';
import type { MysqlKysely, MysqlTableNames } from './mysql-relational-store-options.js';

/** Schema version this package writes: the number of migrations in {@link mysqlMigrations}. */
export const MYSQL_SCHEMA_VERSION = 2;

/** Number of per-record lock slots (`slot` 0..65,535); ids hashing to one slot share its lock. */
export const LOCK_SLOTS = 65_536;

const utf8 = (type: string) => sql.raw(`${type} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);

/**
 * The store's migrations (`storeMigrations` of `@dualwrite/sql`) in MySQL's types. Ids and keys are
 * `VARBINARY(1536)` (512 UTF-16 code units at most 3 bytes each in UTF-8): compared byte by byte, so exactly
 * and case-sensitively, with no trailing-space padding (MySQL's default collations fold case, and `PAD SPACE`
 * collations ignore trailing spaces — either would merge distinct ids), and ordered by UTF-8 bytes, which is
 * code point order. Text `LONGTEXT` utf8mb4; times and versions `BIGINT`; `deleted` `TINYINT` 0|1; embeddings
 * `LONGBLOB`. Plus `version_seq(id BIGINT AUTO_INCREMENT)` behind `nextVersion()` and the lock slots.
 */
export function mysqlMigrations(tables: MysqlTableNames): Record<string, StoreMigration> {
  return storeMigrations(
    tables,
    {
      key: sql.raw('VARBINARY(1536)'),
      text: utf8('LONGTEXT'),
      json: utf8('LONGTEXT'),
      blob: sql.raw('LONGBLOB'),
      int: 'bigint',
      bool: sql.raw('TINYINT'),
      short: utf8('VARCHAR(255)'),
      partialIndex: false,
    },
    {
      // MySQL DDL is not transactional: a start killed half-way leaves tables behind unrecorded, and the next
      // start repeats the migration, so every step is repeatable.
      existingIndexError: (error) => (error as { code?: unknown }).code === 'ER_DUP_KEYNAME',
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
    },
  );
}

/**
 * Brings the schema to {@link MYSQL_SCHEMA_VERSION}; a no-op when it is already there. MySQL DDL is not
 * transactional: Kysely's migrator holds a named lock (`GET_LOCK`) while it runs, so concurrent starts of
 * several processes apply each migration once.
 * @returns the names of the migrations applied now.
 * @throws the migration error, or an `Error` when the database has migrations this version does not know.
 */
export function migrateMysqlSchema(db: MysqlKysely, tables: MysqlTableNames): Promise<string[]> {
  return runMigrations(db, tables, mysqlMigrations(tables));
}
