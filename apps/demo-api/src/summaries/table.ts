import type { Kysely } from 'kysely';

/** Granularity of the code symbol a summary describes. */
export const SUMMARY_LEVELS = ['method', 'class', 'module', 'package'] as const;

/** One of {@link SUMMARY_LEVELS}. */
export type SummaryLevel = (typeof SUMMARY_LEVELS)[number];

/** Name of the service's own table (in the relational store's database, beside the store's `dw_*` tables). */
export const SUMMARIES_TABLE = 'summaries';

/** Row of the `summaries` table. Times are Unix ms; `stale` is 0 or 1. */
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
