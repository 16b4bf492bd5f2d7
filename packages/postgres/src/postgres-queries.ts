/**
 * The SQL behind {@link PostgresRelationalStore}: every statement, parameterised (values are always bound,
 * identifiers come only from the validated schema and table prefix), plus row mapping and the keys of the
 * per-record advisory locks. Each function runs on the Kysely instance it is given (the pool-level instance
 * for single statements, or one bound to a transaction).
 * @internal
 */
import { createHash } from 'node:crypto';
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
import { decodeEmbedding, encodeEmbedding } from '@dualwrite/core';
import { type RawBuilder, sql } from 'kysely';
import type { PostgresKysely, PostgresTableNames } from './postgres-relational-store-options.js';

/** `bigint` columns arrive as decimal strings (node-postgres does not parse int8 by default). */
type Int8 = string;

/** A `records` row as node-postgres returns it (`metadata` is parsed JSON, `embedding` a `Buffer`). */
export interface RecordRow {
  id: string;
  text: string;
  embedding: Buffer | null;
  metadata: Metadata;
  version: Int8;
  deleted: boolean;
  content_hash: string;
  synced_version: Int8 | null;
  created_at: Int8;
  updated_at: Int8;
}

/** An `outbox` row as node-postgres returns it. */
export interface OutboxRow {
  record_id: string;
  version: Int8;
  op: OutboxOp;
  state: OutboxState;
  attempts: number;
  next_attempt_at: Int8;
  enqueued_at: Int8;
  last_error: string | null;
  lease_owner: string | null;
  lease_token: string | null;
  lease_until: Int8 | null;
  lease_version: Int8 | null;
}

interface IntentRow {
  token: string;
  record_id: string;
  version: Int8;
  expires_at: Int8;
}

type Db = PostgresKysely;

/** Parses an `int8` value; throws a `RangeError` beyond `Number.MAX_SAFE_INTEGER` (never reached by Unix ms). */
export function int(value: Int8 | number | bigint): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`[dualwrite] [postgres] integer out of range: ${value}`);
  return n;
}

function intOrNull(value: Int8 | null): number | null {
  return value === null ? null : int(value);
}

function toBytea(embedding: readonly number[]): Buffer {
  const bytes = encodeEmbedding(embedding);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Maps a `records` row. */
export function toStoredRecord(row: RecordRow): StoredRecord {
  return {
    id: row.id,
    text: row.text,
    embedding: row.embedding === null ? null : decodeEmbedding(row.embedding),
    metadata: row.metadata,
    version: int(row.version),
    deleted: row.deleted,
    contentHash: row.content_hash,
    syncedVersion: intOrNull(row.synced_version),
    createdAt: int(row.created_at),
    updatedAt: int(row.updated_at),
  };
}

/** Maps an `outbox` row (lease columns dropped). */
export function toOutboxEntry(row: OutboxRow): OutboxEntry {
  return {
    recordId: row.record_id,
    version: int(row.version),
    op: row.op,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: int(row.next_attempt_at),
    enqueuedAt: int(row.enqueued_at),
    lastError: row.last_error,
  };
}

/** Maps a leased `outbox` row. */
export function toOutboxLease(row: OutboxRow): OutboxLease {
  return {
    ...toOutboxEntry(row),
    leaseOwner: row.lease_owner ?? '',
    leaseToken: row.lease_token ?? '',
    leaseUntil: int(row.lease_until ?? '0'),
  };
}

/** First 4 bytes of SHA-256 of `text`, as a signed 32-bit integer. */
function int32Hash(text: string): number {
  return createHash('sha256').update(text).digest().readInt32BE(0);
}

/** SQL for the store's objects under one schema and prefix. */
export class PostgresQueries {
  readonly #records: RawBuilder<unknown>;
  readonly #outbox: RawBuilder<unknown>;
  readonly #intents: RawBuilder<unknown>;
  readonly #cache: RawBuilder<unknown>;
  readonly #sequence: RawBuilder<unknown>;
  readonly #meta: RawBuilder<unknown>;
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
    this.#records = t(tables.records);
    this.#outbox = t(tables.outbox);
    this.#intents = t(tables.intents);
    this.#cache = t(tables.embeddingCache);
    this.#meta = t(tables.meta);
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
    const { rows } = await sql<RecordRow>`SELECT * FROM ${this.#records} WHERE id = ${id}`.execute(db);
    return rows[0];
  }

  async getRecords(db: Db, ids: readonly string[], includeDeleted: boolean): Promise<RecordRow[]> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    const { rows } = await sql<RecordRow>`
      SELECT * FROM ${this.#records}
      WHERE id = ANY(${unique}::text[]) ${includeDeleted ? sql`` : sql`AND NOT deleted`}`.execute(db);
    return rows;
  }

  async listRecords(db: Db, after: string | undefined, limit: number): Promise<RecordRow[]> {
    const { rows } = await sql<RecordRow>`
      SELECT * FROM ${this.#records}
      WHERE NOT deleted ${after === undefined ? sql`` : sql`AND id > ${after}`}
      ORDER BY id LIMIT ${limit}`.execute(db);
    return rows;
  }

  async listVersions(db: Db, after: string | undefined, limit: number): Promise<RecordVersion[]> {
    const { rows } = await sql<{ id: string; version: Int8; deleted: boolean }>`
      SELECT id, version, deleted FROM ${this.#records}
      ${after === undefined ? sql`` : sql`WHERE id > ${after}`}
      ORDER BY id LIMIT ${limit}`.execute(db);
    return rows.map((r) => ({ id: r.id, version: int(r.version), deleted: r.deleted }));
  }

  async countRecords(db: Db): Promise<number> {
    const { rows } = await sql<{ n: Int8 }>`
      SELECT count(*) AS n FROM ${this.#records} WHERE NOT deleted`.execute(db);
    return int(rows[0]?.n ?? '0');
  }

  /** `nextval` of the version sequence (not rolled back with the transaction, so never handed out twice). */
  async nextVersion(db: Db): Promise<number> {
    const { rows } = await sql<{ v: Int8 }>`SELECT nextval(${this.#sequenceName}::regclass) AS v`.execute(db);
    return int(rows[0]!.v);
  }

  /**
   * Draws a version `> atLeast`, moving the sequence past `atLeast` when it is not yet (a restored database,
   * a reset sequence). The move happens under the sequence's own lock (`ALTER SEQUENCE` blocks concurrent
   * `nextval` until this transaction ends; PostgreSQL docs, ALTER SEQUENCE), so no other session can be
   * handed the same value.
   */
  async nextVersionAbove(db: Db, atLeast: number): Promise<number> {
    const drawn = await this.nextVersion(db);
    if (drawn > atLeast) return drawn;
    await sql`ALTER SEQUENCE ${this.#sequence} NO CYCLE`.execute(db);
    const { rows } = await sql<{ v: Int8 }>`
      SELECT setval(${this.#sequenceName}::regclass, greatest(last_value, ${atLeast}::bigint) + 1, true) AS v
      FROM ${this.#sequence}`.execute(db);
    return int(rows[0]!.v);
  }

  /** Highest version handed out so far by any session, committed or not (0 when none). */
  async currentVersion(db: Db): Promise<number> {
    const { rows } = await sql<{ v: Int8 }>`
      SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS v FROM ${this.#sequence}`.execute(db);
    return int(rows[0]?.v ?? '0');
  }

  /**
   * Inserts or replaces a record. On replace, `created_at` is kept (reset when a tombstone comes back to
   * life) and `synced_version` never goes backwards: a `null` in the write keeps the stored value.
   */
  async writeRecord(db: Db, r: RecordWrite): Promise<void> {
    await sql`
      INSERT INTO ${this.#records} AS r
        (id, text, embedding, metadata, version, deleted, content_hash, synced_version, created_at, updated_at)
      VALUES (${r.id}, ${r.text}, ${r.embedding === null ? null : toBytea(r.embedding)},
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

  async setEmbedding(db: Db, id: string, version: number, embedding: readonly number[]): Promise<boolean> {
    const result = await sql`
      UPDATE ${this.#records} SET embedding = ${toBytea(embedding)}
      WHERE id = ${id} AND version = ${version} AND NOT deleted`.execute(db);
    return (result.numAffectedRows ?? 0n) > 0n;
  }

  async markSynced(db: Db, id: string, version: number): Promise<void> {
    await sql`
      UPDATE ${this.#records} SET synced_version = ${version}
      WHERE id = ${id} AND (synced_version IS NULL OR synced_version < ${version})`.execute(db);
  }

  // -- outbox --------------------------------------------------------------------------------------

  /** The coalescing enqueue of `RelationalTx.enqueue`. */
  async enqueue(db: Db, recordId: string, version: number, op: OutboxOp, now: number): Promise<void> {
    await sql`
      INSERT INTO ${this.#outbox} AS o
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
   * Enqueues the record's current state: upsert when live, delete for a tombstone, or delete at the highest
   * version handed out so far when there is no row. Call with the id's advisory lock held.
   */
  async enqueueRepair(db: Db, recordId: string, now: number): Promise<void> {
    const { rows } = await sql<{ version: Int8; deleted: boolean }>`
      SELECT version, deleted FROM ${this.#records} WHERE id = ${recordId}`.execute(db);
    const record = rows[0];
    if (record === undefined) await this.enqueue(db, recordId, await this.currentVersion(db), 'delete', now);
    else await this.enqueue(db, recordId, int(record.version), record.deleted ? 'delete' : 'upsert', now);
  }

  async getOutbox(db: Db, recordId: string, forUpdate = false): Promise<OutboxRow | undefined> {
    const { rows } = await sql<OutboxRow>`
      SELECT * FROM ${this.#outbox} WHERE record_id = ${recordId} ${forUpdate ? sql`FOR UPDATE` : sql``}`.execute(
      db,
    );
    return rows[0];
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
      UPDATE ${this.#outbox} AS o
      SET lease_owner = ${owner}, lease_token = gen_random_uuid()::text, lease_until = ${leaseUntil},
        lease_version = o.version
      FROM (
        SELECT record_id FROM ${this.#outbox}
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
      SELECT * FROM ${this.#outbox} WHERE record_id = ANY(${recordIds}::text[]) FOR UPDATE`.execute(db);
    return rows;
  }

  /** {@link markSynced} for several distinct ids in one statement. */
  async markSyncedMany(db: Db, ids: readonly string[], versions: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await sql`
      UPDATE ${this.#records} AS r SET synced_version = a.v
      FROM unnest(${ids}::text[], ${versions}::bigint[]) AS a(id, v)
      WHERE r.id = a.id AND (r.synced_version IS NULL OR r.synced_version < a.v)`.execute(db);
  }

  /** {@link clearLease} for several ids in one statement. */
  async clearLeases(db: Db, recordIds: readonly string[], nextAttemptAt: number): Promise<void> {
    if (recordIds.length === 0) return;
    await sql`
      UPDATE ${this.#outbox}
      SET lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL,
        next_attempt_at = LEAST(next_attempt_at, ${nextAttemptAt})
      WHERE record_id = ANY(${recordIds}::text[])`.execute(db);
  }

  /** {@link completeDelivery} for several distinct ids in one statement. */
  async completeDeliveries(db: Db, ids: readonly string[], versions: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await sql`
      WITH entries AS (DELETE FROM ${this.#outbox} WHERE record_id = ANY(${ids}::text[]))
      DELETE FROM ${this.#records} AS r USING unnest(${ids}::text[], ${versions}::bigint[]) AS a(id, v)
      WHERE r.id = a.id AND r.deleted AND r.version <= a.v
        AND NOT EXISTS (SELECT 1 FROM ${this.#intents} AS i WHERE i.record_id = r.id)`.execute(db);
  }

  /** Clears the lease; the entry becomes claimable at `min(next_attempt_at, nextAttemptAt)`. */
  async clearLease(db: Db, recordId: string, nextAttemptAt: number): Promise<void> {
    await sql`
      UPDATE ${this.#outbox}
      SET lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL,
        next_attempt_at = LEAST(next_attempt_at, ${nextAttemptAt})
      WHERE record_id = ${recordId}`.execute(db);
  }

  /** Deletes the entry and purges the record if it is a tombstone at `version` or older. */
  async completeDelivery(db: Db, recordId: string, version: number): Promise<void> {
    await sql`
      WITH entry AS (DELETE FROM ${this.#outbox} WHERE record_id = ${recordId})
      DELETE FROM ${this.#records} WHERE id = ${recordId} AND deleted AND version <= ${version}
        AND NOT EXISTS (SELECT 1 FROM ${this.#intents} WHERE record_id = ${recordId})`.execute(db);
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

  /** Gives a lease back: no attempt charged, claimable again at `retryAt`. */
  async releaseLease(db: Db, recordId: string, lastError: string | null, retryAt: number): Promise<void> {
    await sql`
      UPDATE ${this.#outbox}
      SET next_attempt_at = ${retryAt}, last_error = coalesce(${lastError}::text, last_error),
        lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL
      WHERE record_id = ${recordId}`.execute(db);
  }

  /** Gives back every lease of `leases` whose token still matches, in one statement. */
  async releaseLeases(
    db: Db,
    leases: readonly { recordId: string; leaseToken: string }[],
    retryAt: number,
  ): Promise<void> {
    await sql`
      UPDATE ${this.#outbox} AS o
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
      UPDATE ${this.#outbox} AS o SET lease_until = ${leaseUntil}
      FROM unnest(${leases.map((l) => l.recordId)}::text[], ${leases.map((l) => l.leaseToken)}::text[])
        AS r(record_id, lease_token)
      WHERE o.record_id = r.record_id AND o.lease_token = r.lease_token AND o.state = 'pending'
      RETURNING o.record_id`.execute(db);
    return rows.map((r) => r.record_id);
  }

  async listDeadLetters(db: Db, after: string | undefined, limit: number): Promise<OutboxRow[]> {
    const { rows } = await sql<OutboxRow>`
      SELECT * FROM ${this.#outbox}
      WHERE state = 'dead' ${after === undefined ? sql`` : sql`AND record_id > ${after}`}
      ORDER BY record_id LIMIT ${limit}`.execute(db);
    return rows;
  }

  async requeueDeadLetters(db: Db, ids: readonly string[] | undefined, now: number): Promise<number> {
    if (ids !== undefined && ids.length === 0) return 0;
    const result = await sql`
      UPDATE ${this.#outbox}
      SET state = 'pending', attempts = 0, next_attempt_at = ${now}, enqueued_at = ${now},
        lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL
      WHERE state = 'dead' ${ids === undefined ? sql`` : sql`AND record_id = ANY(${[...new Set(ids)]}::text[])`}`.execute(
      db,
    );
    return Number(result.numAffectedRows ?? 0n);
  }

  async outboxStats(
    db: Db,
    now: number,
  ): Promise<{ depth: number; inFlight: number; deadLetters: number; oldestPendingAt: number | null }> {
    const { rows } = await sql<{ depth: Int8; in_flight: Int8; dead: Int8; oldest: Int8 | null }>`
      SELECT
        count(*) FILTER (WHERE state = 'pending') AS depth,
        count(*) FILTER (WHERE state = 'pending' AND lease_until > ${now}) AS in_flight,
        count(*) FILTER (WHERE state = 'dead') AS dead,
        min(enqueued_at) FILTER (WHERE state = 'pending') AS oldest
      FROM ${this.#outbox}`.execute(db);
    const r = rows[0]!;
    return {
      depth: int(r.depth),
      inFlight: int(r.in_flight),
      deadLetters: int(r.dead),
      oldestPendingAt: intOrNull(r.oldest),
    };
  }

  async maxPendingVersion(db: Db): Promise<number | null> {
    const { rows } = await sql<{ v: Int8 | null }>`
      SELECT max(version) AS v FROM ${this.#outbox} WHERE state = 'pending'`.execute(db);
    return intOrNull(rows[0]?.v ?? null);
  }

  // -- intents -------------------------------------------------------------------------------------

  async putIntent(db: Db, intent: TwoPhaseIntent): Promise<void> {
    await sql`
      INSERT INTO ${this.#intents} (token, record_id, version, expires_at)
      VALUES (${intent.token}, ${intent.recordId}, ${intent.version}, ${intent.expiresAt})`.execute(db);
  }

  async countIntents(db: Db, recordId: string): Promise<number> {
    const { rows } = await sql<{ n: string | number }>`
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
      version: int(r.version),
      expiresAt: int(r.expires_at),
    }));
  }

  // -- embedding cache -----------------------------------------------------------------------------

  async getCachedEmbeddings(db: Db, keys: readonly string[]): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    const unique = [...new Set(keys)];
    if (unique.length === 0) return out;
    const { rows } = await sql<{ key: string; embedding: Buffer }>`
      SELECT key, embedding FROM ${this.#cache} WHERE key = ANY(${unique}::text[])`.execute(db);
    for (const row of rows) out.set(row.key, decodeEmbedding(row.embedding));
    return out;
  }

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
    const blobs = [...byKey.values()].map(toBytea);
    await sql`
      INSERT INTO ${this.#cache} AS c (key, embedding)
      SELECT * FROM unnest(${keys}::text[], ${blobs}::bytea[])
      ON CONFLICT (key) DO UPDATE SET embedding = EXCLUDED.embedding`.execute(db);
  }

  // -- meta ------------------------------------------------------------------------------------------

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
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`.execute(db);
  }
}
