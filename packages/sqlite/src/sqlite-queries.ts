/**
 * The SQL behind {@link SqliteRelationalStore}: every statement, parameterised (values are always bound,
 * identifiers come only from the validated table prefix), plus row mapping. Each function runs on the
 * Kysely instance it is given (the root instance, or one bound to a transaction's connection).
 * @internal
 */
import type {
  Metadata,
  OutboxEntry,
  OutboxLease,
  OutboxOp,
  OutboxState,
  RecordVersion,
  RecordWrite,
  StoredRecord,
  TwoPhaseIntent,
} from '@dualwrite/core';
import { decodeEmbedding } from '@dualwrite/core';
import { CompiledQuery, type RawBuilder, sql } from 'kysely';
import { enqueueParams, hotSql, toBlob, writeRecordParams } from './sqlite-hot-statements.js';
import type { SqliteKysely, SqliteTableNames } from './sqlite-relational-store-options.js';

/** Max bound parameters per `IN (...)` list (SQLite allows 32,766; stay far below). */
export const IN_CHUNK = 500;

/** A `records` row as better-sqlite3 returns it. */
export interface RecordRow {
  id: string;
  text: string;
  embedding: Uint8Array | null;
  metadata: string;
  version: number;
  deleted: number;
  content_hash: string;
  synced_version: number | null;
  created_at: number;
  updated_at: number;
}

/** An `outbox` row as better-sqlite3 returns it. */
export interface OutboxRow {
  record_id: string;
  version: number;
  op: OutboxOp;
  state: OutboxState;
  attempts: number;
  next_attempt_at: number;
  enqueued_at: number;
  last_error: string | null;
  lease_owner: string | null;
  lease_token: string | null;
  lease_until: number | null;
  lease_version: number | null;
}

interface IntentRow {
  token: string;
  record_id: string;
  version: number;
  expires_at: number;
}

type Db = SqliteKysely;

/** Splits `items` into chunks of at most {@link IN_CHUNK}. */
export function chunks<T>(items: readonly T[], size = IN_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Maps a `records` row. */
export function toStoredRecord(row: RecordRow): StoredRecord {
  return {
    id: row.id,
    text: row.text,
    embedding: row.embedding === null ? null : decodeEmbedding(row.embedding),
    metadata: JSON.parse(row.metadata) as Metadata,
    version: row.version,
    deleted: row.deleted === 1,
    contentHash: row.content_hash,
    syncedVersion: row.synced_version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Maps an `outbox` row (lease columns dropped). */
export function toOutboxEntry(row: OutboxRow): OutboxEntry {
  return {
    recordId: row.record_id,
    version: row.version,
    op: row.op,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    enqueuedAt: row.enqueued_at,
    lastError: row.last_error,
  };
}

/** SQL for the store's tables under one prefix. */
export class SqliteQueries {
  readonly #records: RawBuilder<unknown>;
  readonly #sequence: RawBuilder<unknown>;
  readonly #outbox: RawBuilder<unknown>;
  readonly #intents: RawBuilder<unknown>;
  readonly #cache: RawBuilder<unknown>;
  readonly #meta: RawBuilder<unknown>;
  readonly #hot: ReturnType<typeof hotSql>;

  constructor(tables: SqliteTableNames) {
    this.#hot = hotSql(tables);
    this.#records = sql.table(tables.records);
    this.#sequence = sql.table(tables.sequence);
    this.#outbox = sql.table(tables.outbox);
    this.#intents = sql.table(tables.intents);
    this.#cache = sql.table(tables.embeddingCache);
    this.#meta = sql.table(tables.meta);
  }

  // -- records -------------------------------------------------------------------------------------

  async getRecord(db: Db, id: string): Promise<RecordRow | undefined> {
    const { rows } = await db.executeQuery<RecordRow>(CompiledQuery.raw(this.#hot.getRecord, [id]));
    return rows[0];
  }

  async getRecords(db: Db, ids: readonly string[], includeDeleted: boolean): Promise<RecordRow[]> {
    const out: RecordRow[] = [];
    for (const chunk of chunks([...new Set(ids)])) {
      const { rows } = await sql<RecordRow>`
        SELECT * FROM ${this.#records}
        WHERE id IN (${sql.join(chunk)}) ${includeDeleted ? sql`` : sql`AND deleted = 0`}`.execute(db);
      out.push(...rows);
    }
    return out;
  }

  async listRecords(db: Db, after: string | undefined, limit: number): Promise<RecordRow[]> {
    const { rows } = await sql<RecordRow>`
      SELECT * FROM ${this.#records}
      WHERE deleted = 0 ${after === undefined ? sql`` : sql`AND id > ${after}`}
      ORDER BY id LIMIT ${limit}`.execute(db);
    return rows;
  }

  async listVersions(db: Db, after: string | undefined, limit: number): Promise<RecordVersion[]> {
    const { rows } = await sql<{ id: string; version: number; deleted: number }>`
      SELECT id, version, deleted FROM ${this.#records}
      ${after === undefined ? sql`` : sql`WHERE id > ${after}`}
      ORDER BY id LIMIT ${limit}`.execute(db);
    return rows.map((r) => ({ id: r.id, version: r.version, deleted: r.deleted === 1 }));
  }

  async countRecords(db: Db): Promise<number> {
    const { rows } = await sql<{
      n: number;
    }>`SELECT count(*) AS n FROM ${this.#records} WHERE deleted = 0`.execute(db);
    return rows[0]?.n ?? 0;
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

  async setEmbedding(db: Db, id: string, version: number, embedding: readonly number[]): Promise<boolean> {
    const result = await sql`
      UPDATE ${this.#records} SET embedding = ${toBlob(embedding)}
      WHERE id = ${id} AND version = ${version} AND deleted = 0`.execute(db);
    return (result.numAffectedRows ?? 0n) > 0n;
  }

  async markSynced(db: Db, id: string, version: number): Promise<void> {
    await sql`
      UPDATE ${this.#records} SET synced_version = ${version}
      WHERE id = ${id} AND (synced_version IS NULL OR synced_version < ${version})`.execute(db);
  }

  /** Deletes the row if it is a tombstone at `version` or older. */
  async purgeTombstone(db: Db, id: string, version: number): Promise<void> {
    await sql`DELETE FROM ${this.#records} WHERE id = ${id} AND deleted = 1 AND version <= ${version}
      AND NOT EXISTS (SELECT 1 FROM ${this.#intents} WHERE record_id = ${id})`.execute(db);
  }

  // -- outbox --------------------------------------------------------------------------------------

  /** The coalescing enqueue of `RelationalTx.enqueue`. */
  async enqueue(db: Db, recordId: string, version: number, op: OutboxOp, now: number): Promise<void> {
    await db.executeQuery(CompiledQuery.raw(this.#hot.enqueue, enqueueParams(recordId, version, op, now)));
  }

  /** Enqueues the record's current state: upsert when live, delete for a tombstone or a missing row. */
  async enqueueRepair(db: Db, recordId: string, now: number): Promise<void> {
    const row = await sql<{ version: number; deleted: number }>`
      SELECT version, deleted FROM ${this.#records} WHERE id = ${recordId}`.execute(db);
    const record = row.rows[0];
    if (record === undefined) {
      // No row: a delete at the highest version handed out so far (above anything the index can hold).
      await this.enqueue(db, recordId, await this.currentVersion(db), 'delete', now);
    } else {
      await this.enqueue(db, recordId, record.version, record.deleted === 1 ? 'delete' : 'upsert', now);
    }
  }

  async getOutbox(db: Db, recordId: string): Promise<OutboxRow | undefined> {
    const { rows } = await db.executeQuery<OutboxRow>(CompiledQuery.raw(this.#hot.getOutbox, [recordId]));
    return rows[0];
  }

  /** Due pending entries without a live lease, oldest first. */
  async dueOutbox(db: Db, now: number, limit: number): Promise<OutboxRow[]> {
    const { rows } = await sql<OutboxRow>`
      SELECT * FROM ${this.#outbox}
      WHERE state = 'pending' AND next_attempt_at <= ${now} AND (lease_until IS NULL OR lease_until <= ${now})
      ORDER BY next_attempt_at, enqueued_at
      LIMIT ${limit}`.execute(db);
    return rows;
  }

  async lease(db: Db, row: OutboxRow, owner: string, token: string, until: number): Promise<OutboxLease> {
    await sql`
      UPDATE ${this.#outbox}
      SET lease_owner = ${owner}, lease_token = ${token}, lease_until = ${until}, lease_version = version
      WHERE record_id = ${row.record_id}`.execute(db);
    return { ...toOutboxEntry(row), leaseOwner: owner, leaseToken: token, leaseUntil: until };
  }

  /** Clears the lease; the entry becomes claimable at `nextAttemptAt` (or earlier, when given). */
  async clearLease(db: Db, recordId: string, nextAttemptAt?: number): Promise<void> {
    await sql`
      UPDATE ${this.#outbox}
      SET lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL
        ${nextAttemptAt === undefined ? sql`` : sql`, next_attempt_at = min(next_attempt_at, ${nextAttemptAt})`}
      WHERE record_id = ${recordId}`.execute(db);
  }

  async deleteOutbox(db: Db, recordId: string): Promise<void> {
    await sql`DELETE FROM ${this.#outbox} WHERE record_id = ${recordId}`.execute(db);
  }

  /** Charges a failed attempt: `dead` moves the entry to dead letter, otherwise it retries at `retryAt`. */
  async chargeFailure(
    db: Db,
    recordId: string,
    error: string,
    dead: boolean,
    retryAt: number,
  ): Promise<void> {
    await sql`
      UPDATE ${this.#outbox}
      SET attempts = attempts + 1, last_error = ${error}, state = ${dead ? 'dead' : 'pending'},
        next_attempt_at = ${dead ? sql`next_attempt_at` : sql`${retryAt}`},
        lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL
      WHERE record_id = ${recordId}`.execute(db);
  }

  /** Extends a lease still held under `token`; `true` when it was. */
  async renewLease(db: Db, recordId: string, token: string, leaseUntil: number): Promise<boolean> {
    const { numAffectedRows } = await sql`
      UPDATE ${this.#outbox} SET lease_until = ${leaseUntil}
      WHERE record_id = ${recordId} AND lease_token = ${token} AND state = 'pending'`.execute(db);
    return (numAffectedRows ?? 0n) > 0n;
  }

  /** Gives a lease back: no attempt charged, claimable again at `retryAt`. */
  async releaseLease(db: Db, recordId: string, lastError: string | null, retryAt: number): Promise<void> {
    await sql`
      UPDATE ${this.#outbox}
      SET next_attempt_at = ${retryAt}, last_error = coalesce(${lastError}, last_error),
        lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL
      WHERE record_id = ${recordId}`.execute(db);
  }

  async listDeadLetters(db: Db, after: string | undefined, limit: number): Promise<OutboxRow[]> {
    const { rows } = await sql<OutboxRow>`
      SELECT * FROM ${this.#outbox}
      WHERE state = 'dead' ${after === undefined ? sql`` : sql`AND record_id > ${after}`}
      ORDER BY record_id LIMIT ${limit}`.execute(db);
    return rows;
  }

  async requeueDeadLetters(db: Db, ids: readonly string[] | undefined, now: number): Promise<number> {
    const update = (where: RawBuilder<unknown>) => sql`
      UPDATE ${this.#outbox}
      SET state = 'pending', attempts = 0, next_attempt_at = ${now}, enqueued_at = ${now},
        lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL
      WHERE state = 'dead' ${where}`;
    if (ids === undefined) return Number((await update(sql``).execute(db)).numAffectedRows ?? 0n);
    let n = 0;
    for (const chunk of chunks([...new Set(ids)])) {
      const result = await update(sql`AND record_id IN (${sql.join(chunk)})`).execute(db);
      n += Number(result.numAffectedRows ?? 0n);
    }
    return n;
  }

  async outboxStats(
    db: Db,
    now: number,
  ): Promise<{ depth: number; inFlight: number; deadLetters: number; oldestPendingAt: number | null }> {
    const { rows } = await sql<{ depth: number; in_flight: number; dead: number; oldest: number | null }>`
      SELECT
        coalesce(sum(state = 'pending'), 0) AS depth,
        coalesce(sum(state = 'pending' AND lease_until > ${now}), 0) AS in_flight,
        coalesce(sum(state = 'dead'), 0) AS dead,
        min(CASE WHEN state = 'pending' THEN enqueued_at END) AS oldest
      FROM ${this.#outbox}`.execute(db);
    const r = rows[0]!;
    return { depth: r.depth, inFlight: r.in_flight, deadLetters: r.dead, oldestPendingAt: r.oldest };
  }

  async maxPendingVersion(db: Db): Promise<number | null> {
    const { rows } = await sql<{ v: number | null }>`
      SELECT max(version) AS v FROM ${this.#outbox} WHERE state = 'pending'`.execute(db);
    return rows[0]?.v ?? null;
  }

  // -- intents -------------------------------------------------------------------------------------

  async putIntent(db: Db, intent: TwoPhaseIntent): Promise<void> {
    await sql`
      INSERT INTO ${this.#intents} (token, record_id, version, expires_at)
      VALUES (${intent.token}, ${intent.recordId}, ${intent.version}, ${intent.expiresAt})`.execute(db);
  }

  async countIntents(db: Db, recordId: string): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*) AS n FROM ${this.#intents} WHERE record_id = ${recordId}`.execute(db);
    return Number(rows[0]?.n ?? 0);
  }

  /** Deletes the intent; returns its record id, or `undefined` when it was not there. */
  async deleteIntent(db: Db, token: string): Promise<string | undefined> {
    const { rows } = await sql<{ record_id: string }>`
      DELETE FROM ${this.#intents} WHERE token = ${token} RETURNING record_id`.execute(db);
    return rows[0]?.record_id;
  }

  async listExpiredIntents(db: Db, now: number, limit: number): Promise<TwoPhaseIntent[]> {
    const { rows } = await sql<IntentRow>`
      SELECT * FROM ${this.#intents} WHERE expires_at <= ${now}
      ORDER BY expires_at, token LIMIT ${limit}`.execute(db);
    return rows.map((r) => ({
      token: r.token,
      recordId: r.record_id,
      version: r.version,
      expiresAt: r.expires_at,
    }));
  }

  // -- embedding cache -----------------------------------------------------------------------------

  async getCachedEmbeddings(db: Db, keys: readonly string[]): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (const chunk of chunks([...new Set(keys)])) {
      const { rows } = await sql<{ key: string; embedding: Uint8Array }>`
        SELECT key, embedding FROM ${this.#cache} WHERE key IN (${sql.join(chunk)})`.execute(db);
      for (const row of rows) out.set(row.key, decodeEmbedding(row.embedding));
    }
    return out;
  }

  async putCachedEmbedding(db: Db, key: string, embedding: readonly number[]): Promise<void> {
    await sql`
      INSERT INTO ${this.#cache} (key, embedding) VALUES (${key}, ${toBlob(embedding)})
      ON CONFLICT (key) DO UPDATE SET embedding = excluded.embedding`.execute(db);
  }

  // -- meta --------------------------------------------------------------------------------------------

  async getMeta(db: Db, key: string): Promise<string | undefined> {
    const { rows } = await sql<{ value: string }>`
      SELECT value FROM ${this.#meta} WHERE key = ${key}`.execute(db);
    return rows[0]?.value;
  }

  async setMeta(db: Db, key: string, value: string | null): Promise<void> {
    if (value === null) await sql`DELETE FROM ${this.#meta} WHERE key = ${key}`.execute(db);
    else
      await sql`
        INSERT INTO ${this.#meta} (key, value) VALUES (${key}, ${value})
        ON CONFLICT (key) DO UPDATE SET value = excluded.value`.execute(db);
  }
}
