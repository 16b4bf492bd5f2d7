import { type Kysely, MysqlAdapter, sql } from 'kysely';
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
    return new Map(
      rows.map((r) => {
        const row = normalise(r);
        return [row.target_fqn, row];
      }),
    );
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
    const { summary, level, stale, version, updated_at } = row;
    const changes = { summary, level, stale, version, updated_at };
    const insert = db.insertInto(SUMMARIES_TABLE).values(row);
    await (db.getExecutor().adapter instanceof MysqlAdapter
      ? insert.onDuplicateKeyUpdate(changes)
      : insert.onConflict((oc) => oc.column('target_fqn').doUpdateSet(changes))
    ).execute();
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
    // MySQL: a VARBINARY key comes back as bytes (UTF-8).
    target_fqn:
      typeof row.target_fqn === 'string' ? row.target_fqn : Buffer.from(row.target_fqn).toString('utf8'),
    stale: Number(row.stale),
    version: Number(row.version),
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
  };
}
