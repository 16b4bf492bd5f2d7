/**
 * The SQLite dialect's own SQL behind {@link SqliteRelationalStore}; the statements every dialect shares
 * come from `SqlQueries` of `@dualwrite/sql`. Values are always bound; identifiers come only from the
 * validated table prefix. Each function runs on the Kysely instance it is given (the root instance, or one
 * bound to a transaction's connection).
 * @internal
 */
import type { OutboxLease, OutboxOp, RecordWrite } from '@dualwrite/core';
import { embeddingBytes, type OutboxRow, type RecordRow, SqlQueries, toOutboxEntry } from '@dualwrite/sql';
import { CompiledQuery, sql } from 'kysely';
import { enqueueParams, hotSql, writeRecordParams } from './sqlite-hot-statements.js';
import type { SqliteKysely, SqliteTableNames } from './sqlite-relational-store-options.js';

type Db = SqliteKysely;

/** SQL for the store's tables under one prefix. */
export class SqliteQueries extends SqlQueries {
  readonly #sequence: ReturnType<typeof sql.table>;
  readonly #hot: ReturnType<typeof hotSql>;

  constructor(names: SqliteTableNames) {
    super(
      {
        records: sql.table(names.records),
        outbox: sql.table(names.outbox),
        intents: sql.table(names.intents),
        cache: sql.table(names.embeddingCache),
        meta: sql.table(names.meta),
      },
      // better-sqlite3 cannot bind booleans; BEGIN IMMEDIATE already excludes every other writer.
      { bool: (value) => (value ? 1 : 0), lockRowsForUpdate: false },
    );
    this.#sequence = sql.table(names.sequence);
    this.#hot = hotSql(names);
  }

  // -- records -------------------------------------------------------------------------------------

  async getRecord(db: Db, id: string): Promise<RecordRow | undefined> {
    const { rows } = await db.executeQuery<RecordRow>(CompiledQuery.raw(this.#hot.getRecord, [id]));
    return rows[0];
  }

  /**
   * Increments the version sequence and returns the new value, never below `floor + 1` (`floor` is the
   * caller's high-water mark, so a value handed out in a rolled-back transaction is not handed out again
   * by the same process).
   */
  async nextVersion(db: Db, floor: number): Promise<number> {
    const { rows } = await db.executeQuery<{ value: number }>(
      CompiledQuery.raw(this.#hot.nextVersion, [floor, floor]),
    );
    return rows[0]!.value;
  }

  /** Highest version handed out so far (0 when none). */
  async currentVersion(db: Db): Promise<number> {
    const { rows } = await sql<{ value: number }>`
      SELECT value FROM ${this.#sequence} WHERE name = 'version'`.execute(db);
    return rows[0]?.value ?? 0;
  }

  /**
   * Inserts or replaces a record. On replace, `created_at` is kept (reset when a tombstone comes back to
   * life) and `synced_version` never goes backwards: a `null` in the write keeps the stored value.
   */
  async writeRecord(db: Db, r: RecordWrite): Promise<void> {
    await db.executeQuery(CompiledQuery.raw(this.#hot.writeRecord, writeRecordParams(r)));
  }

  // -- outbox --------------------------------------------------------------------------------------

  /** The coalescing enqueue of `RelationalTx.enqueue`. */
  async enqueue(db: Db, recordId: string, version: number, op: OutboxOp, now: number): Promise<void> {
    await db.executeQuery(CompiledQuery.raw(this.#hot.enqueue, enqueueParams(recordId, version, op, now)));
  }

  /** Due pending entries without a live lease, oldest first. */
  async dueOutbox(db: Db, now: number, limit: number): Promise<OutboxRow[]> {
    const { rows } = await sql<OutboxRow>`
      SELECT * FROM ${this.tables.outbox}
      WHERE state = 'pending' AND next_attempt_at <= ${now} AND (lease_until IS NULL OR lease_until <= ${now})
      ORDER BY next_attempt_at, enqueued_at
      LIMIT ${limit}`.execute(db);
    return rows;
  }

  async lease(db: Db, row: OutboxRow, owner: string, token: string, until: number): Promise<OutboxLease> {
    await sql`
      UPDATE ${this.tables.outbox}
      SET lease_owner = ${owner}, lease_token = ${token}, lease_until = ${until}, lease_version = version
      WHERE record_id = ${row.record_id}`.execute(db);
    return { ...toOutboxEntry(row), leaseOwner: owner, leaseToken: token, leaseUntil: until };
  }

  // -- embedding cache -----------------------------------------------------------------------------

  async putCachedEmbedding(db: Db, key: string, embedding: readonly number[]): Promise<void> {
    await sql`
      INSERT INTO ${this.tables.cache} (key, embedding) VALUES (${key}, ${embeddingBytes(embedding)})
      ON CONFLICT (key) DO UPDATE SET embedding = excluded.embedding`.execute(db);
  }
}
