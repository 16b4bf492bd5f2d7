import { type Kysely, sql } from 'kysely';
import { type DemoDatabase, SUMMARIES_TABLE, type SummaryLevel, type SummaryRow } from './table.js';

/** Filter and page of {@link SummaryRepository.list}. */
export interface SummaryListQuery {
  level?: SummaryLevel;
  stale?: boolean;
  /** Return rows whose `target_fqn` sorts after this one (keyset paging). */
  after?: string;
  limit: number;
}

/**
 * SQL access to the `summaries` table. Every method takes the Kysely instance to run on: a store
 * transaction's `uow.db` for writes (so they commit with the dualwrite record and its outbox entry), the
 * store's reader for reads.
 */
export const SummaryRepository = {
  /** The row for `fqn`, or `undefined`. */
  async get(db: Kysely<DemoDatabase>, fqn: string): Promise<SummaryRow | undefined> {
    const row = await db
      .selectFrom(SUMMARIES_TABLE)
      .selectAll()
      .where('target_fqn', '=', fqn)
      .executeTakeFirst();
    return row === undefined ? undefined : normalise(row);
  },

  /** Rows for these fqns, by fqn (missing ones absent). */
  async getMany(db: Kysely<DemoDatabase>, fqns: readonly string[]): Promise<Map<string, SummaryRow>> {
    if (fqns.length === 0) return new Map();
    const rows = await db
      .selectFrom(SUMMARIES_TABLE)
      .selectAll()
      .where('target_fqn', 'in', [...fqns])
      .execute();
    return new Map(rows.map((r) => [r.target_fqn, normalise(r)]));
  },

  /** Rows ordered by `target_fqn`, filtered, after the cursor, at most `limit`. */
  async list(db: Kysely<DemoDatabase>, query: SummaryListQuery): Promise<SummaryRow[]> {
    let q = db.selectFrom(SUMMARIES_TABLE).selectAll();
    if (query.level !== undefined) q = q.where('level', '=', query.level);
    if (query.stale !== undefined) q = q.where('stale', '=', query.stale ? 1 : 0);
    if (query.after !== undefined) q = q.where('target_fqn', '>', query.after);
    const rows = await q.orderBy('target_fqn').limit(query.limit).execute();
    return rows.map(normalise);
  },

  /** Inserts or replaces the row. */
  async upsert(db: Kysely<DemoDatabase>, row: SummaryRow): Promise<void> {
    await db
      .insertInto(SUMMARIES_TABLE)
      .values(row)
      .onConflict((oc) =>
        oc.column('target_fqn').doUpdateSet({
          summary: row.summary,
          level: row.level,
          stale: row.stale,
          version: row.version,
          updated_at: row.updated_at,
        }),
      )
      .execute();
  },

  /** Deletes the row; returns whether one existed. */
  async delete(db: Kysely<DemoDatabase>, fqn: string): Promise<boolean> {
    const result = await db.deleteFrom(SUMMARIES_TABLE).where('target_fqn', '=', fqn).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },

  /** A trivial query: the database answers. */
  async ping(db: Kysely<DemoDatabase>): Promise<void> {
    await sql`SELECT 1`.execute(db);
  },

  /** Number of rows. */
  async count(db: Kysely<DemoDatabase>): Promise<number> {
    const row = await db
      .selectFrom(SUMMARIES_TABLE)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  },
};

/** Drivers may hand back bigint or string for 64-bit columns; the API speaks numbers. */
function normalise(row: SummaryRow): SummaryRow {
  return {
    ...row,
    stale: Number(row.stale),
    version: Number(row.version),
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
  };
}
