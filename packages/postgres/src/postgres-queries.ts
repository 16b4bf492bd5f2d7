/**
 * The PostgreSQL dialect's own SQL behind {@link PostgresRelationalStore} (the statements every dialect shares
 * come from `SqlQueries` of `@dualwrite/sql`): advisory locks, the sequence, NOTIFY, the one-statement
 * claim and the set-based fast paths. Values are always bound; identifiers come only from the validated
 * schema and table prefix. Each function runs on the Kysely instance it is given (the pool-level instance
 * for single statements, or one bound to a transaction).
 * @internal
 */
import { createHash } from 'node:crypto';
import type { OutboxOp, RecordWrite } from '@dualwrite/core';
import { embeddingBytes, int, type OutboxRow, type RecordRow, type SqlInt, SqlQueries } from '@dualwrite/sql';
import { type RawBuilder, sql } from 'kysely';
import type { PostgresKysely, PostgresTableNames } from './postgres-relational-store-options.js';

type Db = PostgresKysely;

/**
 * Second key of the advisory lock that serialises moves of the version sequence (under the store's
 * `lockClass`; a record id hashing to it only shares the lock's queue, which is harmless).
 */
const SEQUENCE_MOVE_LOCK_KEY = 0x7fff_fffe;

/** First 4 bytes of SHA-256 of `text`, as a signed 32-bit integer. */
function int32Hash(text: string): number {
  return createHash('sha256').update(text).digest().readInt32BE(0);
}

/** SQL for the store's objects under one schema and prefix. */
export class PostgresQueries extends SqlQueries {
  readonly #sequence: RawBuilder<unknown>;
  /** `"schema"."prefix_version_seq"`, for `nextval(...::regclass)`. */
  readonly #sequenceName: string;
  readonly #channel: string;
  /**
   * First key of the two-key advisory locks on record ids (`pg_advisory_xact_lock(int4, int4)`), derived
   * from the schema and table names: stores in other schemas or with other prefixes never contend, and the
   * two-key space never collides with single-`bigint` advisory locks (the migration lock, Kysely's, most
   * applications').
   */
  readonly lockClass: number;

  constructor(tables: PostgresTableNames) {
    const t = (name: string) => sql.id(tables.schema, name);
    super(
      {
        records: t(tables.records),
        outbox: t(tables.outbox),
        intents: t(tables.intents),
        cache: t(tables.embeddingCache),
        meta: t(tables.meta),
      },
      // READ COMMITTED: a read-modify-write of an outbox row locks it.
      { bool: (value) => value, lockRowsForUpdate: true },
    );
    this.#sequence = t(tables.versionSequence);
    this.#sequenceName = `"${tables.schema}"."${tables.versionSequence}"`;
    this.#channel = tables.notifyChannel;
    this.lockClass = int32Hash(`dualwrite:record-lock:${tables.schema}.${tables.records}`);
  }

  // -- per-record locks ----------------------------------------------------------------------------

  /**
   * Second key of the advisory lock of record `id`: 32 bits of SHA-256 of the id. Two ids sharing a key
   * merely serialise their writers; they never corrupt anything.
   */
  lockKey(id: string): number {
    return int32Hash(id);
  }

  /**
   * Takes the transaction-scoped advisory locks of `ids` (held until COMMIT/ROLLBACK) in ascending key
   * order, one statement. Every read-modify-write of a record id (a writer's `getRecord` → `writeRecord` →
   * `enqueue`, an ack, a repair) takes its id's lock first, so they run one after the other and each one's
   * reads see the previous one's committed writes (READ COMMITTED takes a new snapshot per statement, and
   * this statement ends before the reads start).
   */
  async lockRecords(db: Db, ids: readonly string[]): Promise<void> {
    // Same order as core's writers (ids compared by UTF-16 code units, as `writeChangesWithOutbox` sorts
    // them), so a blocking acknowledgement and a multi-id write cannot wait on each other in a cycle.
    const ordered = [...new Set(ids)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const keys = [...new Set(ordered.map((id) => this.lockKey(id)))];
    if (keys.length === 0) return;
    if (keys.length === 1) {
      await sql`SELECT pg_advisory_xact_lock(${this.lockClass}::int4, ${keys[0]}::int4)`.execute(db);
      return;
    }
    // Volatile functions in the target list run after ORDER BY, so the locks are taken in array order.
    await sql`
      SELECT pg_advisory_xact_lock(${this.lockClass}::int4, k)
      FROM unnest(${keys}::int4[]) WITH ORDINALITY AS t(k, n) ORDER BY n`.execute(db);
  }

  /** `pg_notify(<channel>, '')`: delivered to listeners when the transaction commits (at once outside one). */
  async notify(db: Db): Promise<void> {
    await sql`SELECT pg_notify(${this.#channel}, '')`.execute(db);
  }

  // -- records -------------------------------------------------------------------------------------

  async getRecord(db: Db, id: string): Promise<RecordRow | undefined> {
    const { rows } = await sql<RecordRow>`SELECT * FROM ${this.tables.records} WHERE id = ${id}`.execute(db);
    return rows[0];
  }

  /** `nextval` of the version sequence (not rolled back with the transaction, so never handed out twice). */
  async nextVersion(db: Db): Promise<number> {
    const { rows } = await sql<{ v: SqlInt }>`SELECT nextval(${this.#sequenceName}::regclass) AS v`.execute(
      db,
    );
    return int(rows[0]!.v);
  }

  /**
   * Draws a version `> atLeast`, moving the sequence past `atLeast` when it is not yet (a restored database,
   * a reset sequence). The move happens under the sequence's own lock (`ALTER SEQUENCE` blocks concurrent
   * `nextval` until this transaction ends; PostgreSQL docs, ALTER SEQUENCE), so no other session can be
   * handed the same value. Callers of this method take a transaction-scoped advisory lock first: two of
   * them each holding the sequence (their `nextval`) while waiting for the other's `ALTER SEQUENCE` would
   * deadlock (seen once in the contract suite's concurrent draws).
   */
  async nextVersionAbove(db: Db, atLeast: number): Promise<number> {
    await sql`SELECT pg_advisory_xact_lock(${this.lockClass}::int4, ${SEQUENCE_MOVE_LOCK_KEY}::int4)`.execute(
      db,
    );
    const drawn = await this.nextVersion(db);
    if (drawn > atLeast) return drawn;
    await sql`ALTER SEQUENCE ${this.#sequence} NO CYCLE`.execute(db);
    const { rows } = await sql<{ v: SqlInt }>`
      SELECT setval(${this.#sequenceName}::regclass, greatest(last_value, ${atLeast}::bigint) + 1, true) AS v
      FROM ${this.#sequence}`.execute(db);
    return int(rows[0]!.v);
  }

  /** Highest version handed out so far by any session, committed or not (0 when none). */
  async currentVersion(db: Db): Promise<number> {
    const { rows } = await sql<{ v: SqlInt }>`
      SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS v FROM ${this.#sequence}`.execute(db);
    return int(rows[0]?.v ?? '0');
  }

  /**
   * Inserts or replaces a record. On replace, `created_at` is kept (reset when a tombstone comes back to
   * life) and `synced_version` never goes backwards: a `null` in the write keeps the stored value.
   */
  async writeRecord(db: Db, r: RecordWrite): Promise<void> {
    await sql`
      INSERT INTO ${this.tables.records} AS r
        (id, text, embedding, metadata, version, deleted, content_hash, synced_version, created_at, updated_at)
      VALUES (${r.id}, ${r.text}, ${r.embedding === null ? null : embeddingBytes(r.embedding)},
        ${JSON.stringify(r.metadata)}::json, ${r.version}, ${r.deleted}, ${r.contentHash}, ${r.syncedVersion},
        ${r.now}, ${r.now})
      ON CONFLICT (id) DO UPDATE SET
        text = EXCLUDED.text,
        embedding = EXCLUDED.embedding,
        metadata = EXCLUDED.metadata,
        version = EXCLUDED.version,
        deleted = EXCLUDED.deleted,
        content_hash = EXCLUDED.content_hash,
        synced_version = CASE
          WHEN EXCLUDED.synced_version IS NULL THEN r.synced_version
          WHEN r.synced_version IS NULL OR EXCLUDED.synced_version > r.synced_version THEN EXCLUDED.synced_version
          ELSE r.synced_version END,
        created_at = CASE WHEN r.deleted AND NOT EXCLUDED.deleted THEN EXCLUDED.created_at ELSE r.created_at END,
        updated_at = EXCLUDED.updated_at`.execute(db);
  }

  // -- outbox --------------------------------------------------------------------------------------

  /** The coalescing enqueue of `RelationalTx.enqueue`. */
  async enqueue(db: Db, recordId: string, version: number, op: OutboxOp, now: number): Promise<void> {
    await sql`
      INSERT INTO ${this.tables.outbox} AS o
        (record_id, version, op, state, attempts, next_attempt_at, enqueued_at, last_error,
         lease_owner, lease_token, lease_until, lease_version)
      VALUES (${recordId}, ${version}, ${op}, 'pending', 0, ${now}, ${now}, NULL, NULL, NULL, NULL, NULL)
      ON CONFLICT (record_id) DO UPDATE SET
        version = EXCLUDED.version,
        op = EXCLUDED.op,
        attempts = 0,
        state = 'pending',
        next_attempt_at = EXCLUDED.next_attempt_at,
        enqueued_at = CASE WHEN o.state = 'pending' THEN o.enqueued_at ELSE EXCLUDED.enqueued_at END`.execute(
      db,
    );
  }

  /**
   * Claims due entries in one statement: the subquery picks pending entries with `next_attempt_at <= now`
   * and no live lease, oldest first, and locks them `FOR UPDATE SKIP LOCKED` — rows another transaction is
   * claiming at this moment are skipped instead of waited for, and a row that a concurrent claim leased and
   * committed in the meantime is re-checked against the WHERE clause and dropped (PostgreSQL docs, SELECT,
   * "The Locking Clause"; §13.2.1 on READ COMMITTED re-evaluation). The outer UPDATE writes the lease: a fresh
   * `gen_random_uuid()` token, owner, expiry, and `lease_version = version`.
   *
   * Rows come back in no particular order; the caller sorts them.
   */
  async claim(db: Db, owner: string, now: number, leaseUntil: number, limit: number): Promise<OutboxRow[]> {
    const { rows } = await sql<OutboxRow>`
      UPDATE ${this.tables.outbox} AS o
      SET lease_owner = ${owner}, lease_token = gen_random_uuid()::text, lease_until = ${leaseUntil},
        lease_version = o.version
      FROM (
        SELECT record_id FROM ${this.tables.outbox}
        WHERE state = 'pending' AND next_attempt_at <= ${now} AND (lease_until IS NULL OR lease_until <= ${now})
        ORDER BY next_attempt_at, enqueued_at
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      ) AS due
      WHERE o.record_id = due.record_id
      RETURNING o.*`.execute(db);
    return rows;
  }

  /** The entries of `recordIds`, locked `FOR UPDATE`. */
  async lockOutboxRows(db: Db, recordIds: readonly string[]): Promise<OutboxRow[]> {
    const { rows } = await sql<OutboxRow>`
      SELECT * FROM ${this.tables.outbox} WHERE record_id = ANY(${recordIds}::text[]) FOR UPDATE`.execute(db);
    return rows;
  }

  /** {@link markSynced} for several distinct ids in one statement. */
  async markSyncedMany(db: Db, ids: readonly string[], versions: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await sql`
      UPDATE ${this.tables.records} AS r SET synced_version = a.v
      FROM unnest(${ids}::text[], ${versions}::bigint[]) AS a(id, v)
      WHERE r.id = a.id AND (r.synced_version IS NULL OR r.synced_version < a.v)`.execute(db);
  }

  /** {@link clearLease} for several ids in one statement. */
  async clearLeases(db: Db, recordIds: readonly string[], nextAttemptAt: number): Promise<void> {
    if (recordIds.length === 0) return;
    await sql`
      UPDATE ${this.tables.outbox}
      SET lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL,
        next_attempt_at = LEAST(next_attempt_at, ${nextAttemptAt})
      WHERE record_id = ANY(${recordIds}::text[])`.execute(db);
  }

  /** {@link completeDelivery} for several distinct ids in one statement. */
  async completeDeliveries(db: Db, ids: readonly string[], versions: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await sql`
      WITH entries AS (DELETE FROM ${this.tables.outbox} WHERE record_id = ANY(${ids}::text[]))
      DELETE FROM ${this.tables.records} AS r USING unnest(${ids}::text[], ${versions}::bigint[]) AS a(id, v)
      WHERE r.id = a.id AND r.deleted AND r.version <= a.v
        AND NOT EXISTS (SELECT 1 FROM ${this.tables.intents} AS i WHERE i.record_id = r.id)`.execute(db);
  }

  /** Gives back every lease of `leases` whose token still matches, in one statement. */
  async releaseLeases(
    db: Db,
    leases: readonly { recordId: string; leaseToken: string }[],
    retryAt: number,
  ): Promise<void> {
    await sql`
      UPDATE ${this.tables.outbox} AS o
      SET next_attempt_at = ${retryAt},
        lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL
      FROM unnest(${leases.map((l) => l.recordId)}::text[], ${leases.map((l) => l.leaseToken)}::text[])
        AS r(record_id, lease_token)
      WHERE o.record_id = r.record_id AND o.lease_token = r.lease_token`.execute(db);
  }

  /** Extends every lease of `leases` still held under its token; returns their record ids. */
  async renewLeases(
    db: Db,
    leases: readonly { recordId: string; leaseToken: string }[],
    leaseUntil: number,
  ): Promise<string[]> {
    const { rows } = await sql<{ record_id: string }>`
      UPDATE ${this.tables.outbox} AS o SET lease_until = ${leaseUntil}
      FROM unnest(${leases.map((l) => l.recordId)}::text[], ${leases.map((l) => l.leaseToken)}::text[])
        AS r(record_id, lease_token)
      WHERE o.record_id = r.record_id AND o.lease_token = r.lease_token AND o.state = 'pending'
      RETURNING o.record_id`.execute(db);
    return rows.map((r) => r.record_id);
  }

  // -- intents -------------------------------------------------------------------------------------

  // -- embedding cache -----------------------------------------------------------------------------

  /** Inserts or replaces cache entries in one statement (a key given twice: the last one wins). */
  async putCachedEmbeddings(
    db: Db,
    entries: readonly { key: string; embedding: readonly number[] }[],
  ): Promise<void> {
    const byKey = new Map<string, readonly number[]>();
    for (const e of entries) {
      byKey.delete(e.key);
      byKey.set(e.key, e.embedding);
    }
    const keys = [...byKey.keys()];
    const blobs = [...byKey.values()].map(embeddingBytes);
    await sql`
      INSERT INTO ${this.tables.cache} AS c (key, embedding)
      SELECT * FROM unnest(${keys}::text[], ${blobs}::bytea[])
      ON CONFLICT (key) DO UPDATE SET embedding = EXCLUDED.embedding`.execute(db);
  }

  // -- meta ------------------------------------------------------------------------------------------
}
