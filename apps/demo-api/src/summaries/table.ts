import type { Kysely } from 'kysely';

/** Granularity of the code symbol a summary describes. */
export const SUMMARY_LEVELS = ['method', 'class', 'module', 'package'] as const;

/** One of {@link SUMMARY_LEVELS}. */
export type SummaryLevel = (typeof SUMMARY_LEVELS)[number];

/**
 * Name of the service's own table (in the relational store's database, beside the store's `dw_*` tables; on
 * PostgreSQL in the store's schema, see {@link SummaryStorage}).
 */
export const SUMMARIES_TABLE = 'summaries';

/**
 * Row of the `summaries` table. Times are Unix ms; `stale` is 0 or 1 (an `integer` column on both
 * dialects, so filters and writes are the same SQL). PostgreSQL hands `bigint` columns back as strings: the
 * repository turns them into numbers.
 */
export interface SummaryRow {
  target_fqn: string;
  summary: string;
  level: SummaryLevel;
  stale: number;
  /** dualwrite record version written in the same transaction. */
  version: number;
  created_at: number;
  updated_at: number;
}

/** Kysely database type of the tables this service owns. */
export interface DemoDatabase {
  summaries: SummaryRow;
}

/**
 * The Kysely handle the relational store hands out (`uow.db` in a transaction, `store.kysely` for reads).
 * It is untyped by the store contract (it also reaches the store's own tables); the repository narrows it
 * to {@link DemoDatabase}.
 */
// biome-ignore lint/suspicious/noExplicitAny: RelationalStore<Kysely<any>> is the store's contract
export type StoreKysely = Kysely<any>;

/**
 * Where the service's own tables live: in the SQLite file, in one schema of a PostgreSQL database (the
 * store's schema, so one `DUALWRITE_PG_SCHEMA` keeps an instance's tables together and apart from others'),
 * or in the MySQL database of the URL.
 */
export type SummaryStorage =
  | { readonly dialect: 'sqlite' }
  | { readonly dialect: 'postgres'; readonly schema: string }
  | { readonly dialect: 'mysql' };

/**
 * `db` (the store's reader or a transaction's `uow.db`) aimed at the service's tables: unchanged on SQLite;
 * on PostgreSQL, unqualified table names resolve to the configured schema (Kysely `withSchema`), whatever the
 * connection's `search_path`. A transaction stays the same transaction.
 */
export function inStorage(db: StoreKysely, storage: SummaryStorage): StoreKysely {
  return storage.dialect === 'postgres' ? db.withSchema(storage.schema) : db;
}
