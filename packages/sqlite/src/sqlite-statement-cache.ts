import type Database from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/**
 * Wraps a better-sqlite3 connection for Kysely's `SqliteDialect` so each distinct SQL text is prepared
 * once and reused (LRU of `max` statements). Kysely prepares a statement per query; the store issues the
 * same few statements on every write, and preparing dominates their cost.
 */
export function withStatementCache(db: Database.Database, max = 200): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => {
      cache.clear();
      db.close();
    },
    prepare: (sql: string) => {
      let statement = cache.get(sql);
      if (statement) {
        cache.delete(sql);
      } else {
        statement = db.prepare(sql) as unknown as SqliteStatement;
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, statement);
      return statement;
    },
  };
}
