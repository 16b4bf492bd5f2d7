/**
 * The relational store's SQL that is the same in every dialect, written once over Kysely's `sql` template
 * (the dialect compiles placeholders and identifiers): records, the outbox rows the ledger reads and
 * changes, dead letters, gauges, intents, the embedding cache's reads and the meta table. A dialect extends
 * {@link SqlQueries} with what differs: the coalescing enqueue, the version sequence, claims and its own
 * fast paths.
 */
import type {
  LedgerOutboxPatch,
  LedgerOutboxRow,
  OutboxEntry,
  OutboxOp,
  RecordVersion,
  StoredRecord,
  TwoPhaseIntent,
} from '@dualwrite/core';
import { decodeEmbedding } from '@dualwrite/core';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import {
  bool,
  embeddingBytes,
  type IntentRow,
  int,
  intOrNull,
  type OutboxRow,
  type RecordRow,
  type SqlBool,
  type SqlInt,
  toIntent,
  toLedgerRow,
  toOutboxEntry,
  toStoredRecord,
} from './sql-rows.js';

// biome-ignore lint/suspicious/noExplicitAny: the store's tables are addressed with raw SQL
export type SqlDb = Kysely<any>;

/** The store's tables, as identifiers ready for the `sql` template (`sql.table(...)` / `sql.id(schema, t)`). */
export interface SqlTables {
  records: RawBuilder<unknown>;
  outbox: RawBuilder<unknown>;
  intents: RawBuilder<unknown>;
  cache: RawBuilder<unknown>;
  meta: RawBuilder<unknown>;
}

/** What a dialect tells the shared SQL. */
export interface SqlDialectTraits {
  /** A boolean as a bound parameter: `1/0` (SQLite, whose driver cannot bind booleans) or `true/false`. */
  bool(value: boolean): unknown;
  /**
   * `true` when a read-modify-write must lock the outbox row it read (`SELECT … FOR UPDATE`: PostgreSQL,
   * MySQL, under READ COMMITTED / REPEATABLE READ). `false` when the write transaction already excludes
   * every other writer (SQLite's `BEGIN IMMEDIATE`).
   */
  lockRowsForUpdate: boolean;
}

/** Most bound parameters per `IN (...)` list. */
export const IN_CHUNK = 500;

/** Splits `items` into chunks of at most {@link IN_CHUNK}. */
export function chunks<T>(items: readonly T[], size = IN_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Outbox columns of {@link LedgerOutboxPatch}, by property. */
const OUTBOX_COLUMNS: Record<keyof LedgerOutboxPatch, string> = {
  state: 'state',
  attempts: 'attempts',
  lastError: 'last_error',
  nextAttemptAt: 'next_attempt_at',
  leaseToken: 'lease_token',
  leaseOwner: 'lease_owner',
  leaseUntil: 'lease_until',
  leaseVersion: 'lease_version',
};

/** The shared statements; a dialect subclass adds the rest. */
export abstract class SqlQueries {
  constructor(
    protected readonly tables: SqlTables,
    protected readonly traits: SqlDialectTraits,
  ) {}

  /** The coalescing enqueue of `RelationalTx.enqueue` (an upsert: dialect syntax). */
  abstract enqueue(db: SqlDb, recordId: string, version: number, op: OutboxOp, now: number): Promise<void>;

  /** Highest version the sequence has handed out (0 when none). */
  abstract currentVersion(db: SqlDb): Promise<number>;

  // -- records -------------------------------------------------------------------------------------

  async getRecords(db: SqlDb, ids: readonly string[], includeDeleted: boolean): Promise<StoredRecord[]> {
    const out: StoredRecord[] = [];
    for (const chunk of chunks([...new Set(ids)])) {
      const { rows } = await sql<RecordRow>`
        SELECT * FROM ${this.tables.records}
        WHERE id IN (${sql.join(chunk)})
        ${includeDeleted ? sql`` : sql`AND deleted = ${this.traits.bool(false)}`}`.execute(db);
      out.push(...rows.map(toStoredRecord));
    }
    return out;
  }

  async listRecords(db: SqlDb, after: string | undefined, limit: number): Promise<StoredRecord[]> {
    const { rows } = await sql<RecordRow>`
      SELECT * FROM ${this.tables.records}
      WHERE deleted = ${this.traits.bool(false)} ${after === undefined ? sql`` : sql`AND id > ${after}`}
      ORDER BY id LIMIT ${limit}`.execute(db);
    return rows.map(toStoredRecord);
  }

  async listVersions(db: SqlDb, after: string | undefined, limit: number): Promise<RecordVersion[]> {
    const { rows } = await sql<{ id: string; version: SqlInt; deleted: SqlBool }>`
      SELECT id, version, deleted FROM ${this.tables.records}
      ${after === undefined ? sql`` : sql`WHERE id > ${after}`}
      ORDER BY id LIMIT ${limit}`.execute(db);
    return rows.map((r) => ({ id: r.id, version: int(r.version), deleted: bool(r.deleted) }));
  }

  async countRecords(db: SqlDb): Promise<number> {
    const { rows } = await sql<{ n: SqlInt }>`
      SELECT count(*) AS n FROM ${this.tables.records} WHERE deleted = ${this.traits.bool(false)}`.execute(
      db,
    );
    return int(rows[0]?.n ?? 0);
  }

  /** Version and tombstone flag of the record row. */
  async getRecordState(db: SqlDb, id: string): Promise<{ version: number; deleted: boolean } | undefined> {
    const { rows } = await sql<{ version: SqlInt; deleted: SqlBool }>`
      SELECT version, deleted FROM ${this.tables.records} WHERE id = ${id}`.execute(db);
    const row = rows[0];
    return row && { version: int(row.version), deleted: bool(row.deleted) };
  }

  /** Stores `embedding` if the record is live and still at `version`; `true` when it was. */
  async setEmbedding(db: SqlDb, id: string, version: number, embedding: readonly number[]): Promise<boolean> {
    const result = await sql`
      UPDATE ${this.tables.records} SET embedding = ${embeddingBytes(embedding)}
      WHERE id = ${id} AND version = ${version} AND deleted = ${this.traits.bool(false)}`.execute(db);
    return (result.numAffectedRows ?? 0n) > 0n;
  }

  /** Raises `synced_version` to `version` if that is higher (a missing record is ignored). */
  async markSynced(db: SqlDb, id: string, version: number): Promise<void> {
    await sql`
      UPDATE ${this.tables.records} SET synced_version = ${version}
      WHERE id = ${id} AND (synced_version IS NULL OR synced_version < ${version})`.execute(db);
  }

  /** Deletes the record row if it is a tombstone at `version` or older. */
  async deleteTombstone(db: SqlDb, id: string, version: number): Promise<void> {
    await sql`
      DELETE FROM ${this.tables.records}
      WHERE id = ${id} AND deleted = ${this.traits.bool(true)} AND version <= ${version}`.execute(db);
  }

  // -- outbox rows ---------------------------------------------------------------------------------

  /** The outbox row of `recordId` with its lease columns (locked `FOR UPDATE` with `lock` where rows lock). */
  async getOutboxRow(db: SqlDb, recordId: string, lock = false): Promise<LedgerOutboxRow | undefined> {
    const { rows } = await sql<OutboxRow>`
      SELECT * FROM ${this.tables.outbox} WHERE record_id = ${recordId}
      ${lock && this.traits.lockRowsForUpdate ? sql`FOR UPDATE` : sql``}`.execute(db);
    return rows[0] && toLedgerRow(rows[0]);
  }

  /** The outbox entry of `recordId` in either state, without lease columns. */
  async getOutboxEntry(db: SqlDb, recordId: string): Promise<OutboxEntry | undefined> {
    const { rows } = await sql<OutboxRow>`
      SELECT * FROM ${this.tables.outbox} WHERE record_id = ${recordId}`.execute(db);
    return rows[0] && toOutboxEntry(rows[0]);
  }

  async updateOutboxRow(db: SqlDb, recordId: string, patch: LedgerOutboxPatch): Promise<void> {
    const sets = Object.entries(patch).map(
      ([key, value]) => sql`${sql.ref(OUTBOX_COLUMNS[key as keyof LedgerOutboxPatch])} = ${value}`,
    );
    if (sets.length === 0) return;
    await sql`UPDATE ${this.tables.outbox} SET ${sql.join(sets)} WHERE record_id = ${recordId}`.execute(db);
  }

  async deleteOutboxRow(db: SqlDb, recordId: string): Promise<void> {
    await sql`DELETE FROM ${this.tables.outbox} WHERE record_id = ${recordId}`.execute(db);
  }

  async listDeadLetters(db: SqlDb, after: string | undefined, limit: number): Promise<OutboxEntry[]> {
    const { rows } = await sql<OutboxRow>`
      SELECT * FROM ${this.tables.outbox}
      WHERE state = 'dead' ${after === undefined ? sql`` : sql`AND record_id > ${after}`}
      ORDER BY record_id LIMIT ${limit}`.execute(db);
    return rows.map(toOutboxEntry);
  }

  /** Moves dead letters (all, or `ids`) back to pending: attempts 0, `next_attempt_at = enqueued_at = now`. */
  async requeueDeadLetters(db: SqlDb, ids: readonly string[] | undefined, now: number): Promise<number> {
    const update = (where: RawBuilder<unknown>) => sql`
      UPDATE ${this.tables.outbox}
      SET state = 'pending', attempts = 0, next_attempt_at = ${now}, enqueued_at = ${now},
        lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL
      WHERE state = 'dead' ${where}`;
    if (ids === undefined) return Number((await update(sql``).execute(db)).numAffectedRows ?? 0n);
    let n = 0;
    for (const chunk of chunks([...new Set(ids)]))
      n += Number(
        (await update(sql`AND record_id IN (${sql.join(chunk)})`).execute(db)).numAffectedRows ?? 0n,
      );
    return n;
  }

  async outboxStats(
    db: SqlDb,
    now: number,
  ): Promise<{ depth: number; inFlight: number; deadLetters: number; oldestPendingAt: number | null }> {
    const { rows } = await sql<{
      depth: SqlInt | null;
      in_flight: SqlInt | null;
      dead: SqlInt | null;
      oldest: SqlInt | null;
    }>`
      SELECT
        sum(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS depth,
        sum(CASE WHEN state = 'pending' AND lease_until > ${now} THEN 1 ELSE 0 END) AS in_flight,
        sum(CASE WHEN state = 'dead' THEN 1 ELSE 0 END) AS dead,
        min(CASE WHEN state = 'pending' THEN enqueued_at END) AS oldest
      FROM ${this.tables.outbox}`.execute(db);
    const r = rows[0];
    return {
      depth: int(r?.depth ?? 0),
      inFlight: int(r?.in_flight ?? 0),
      deadLetters: int(r?.dead ?? 0),
      oldestPendingAt: intOrNull(r?.oldest),
    };
  }

  async maxPendingVersion(db: SqlDb): Promise<number | null> {
    const { rows } = await sql<{ v: SqlInt | null }>`
      SELECT max(version) AS v FROM ${this.tables.outbox} WHERE state = 'pending'`.execute(db);
    return intOrNull(rows[0]?.v);
  }

  // -- intents -------------------------------------------------------------------------------------

  async putIntent(db: SqlDb, intent: TwoPhaseIntent): Promise<void> {
    await sql`
      INSERT INTO ${this.tables.intents} (token, record_id, version, expires_at)
      VALUES (${intent.token}, ${intent.recordId}, ${intent.version}, ${intent.expiresAt})`.execute(db);
  }

  async countIntents(db: SqlDb, recordId: string): Promise<number> {
    const { rows } = await sql<{ n: SqlInt }>`
      SELECT count(*) AS n FROM ${this.tables.intents} WHERE record_id = ${recordId}`.execute(db);
    return int(rows[0]?.n ?? 0);
  }

  /** The record id of the intent `token`, or `undefined` when there is none. */
  async intentRecordId(db: SqlDb, token: string): Promise<string | undefined> {
    const { rows } = await sql<{ record_id: string }>`
      SELECT record_id FROM ${this.tables.intents} WHERE token = ${token}`.execute(db);
    return rows[0]?.record_id;
  }

  /** Deletes the intent; returns its record id, or `undefined` when it was not there. */
  async deleteIntent(db: SqlDb, token: string): Promise<string | undefined> {
    const { rows } = await sql<{ record_id: string }>`
      DELETE FROM ${this.tables.intents} WHERE token = ${token} RETURNING record_id`.execute(db);
    return rows[0]?.record_id;
  }

  async listExpiredIntents(db: SqlDb, now: number, limit: number): Promise<TwoPhaseIntent[]> {
    const { rows } = await sql<IntentRow>`
      SELECT * FROM ${this.tables.intents} WHERE expires_at <= ${now}
      ORDER BY expires_at, token LIMIT ${limit}`.execute(db);
    return rows.map(toIntent);
  }

  // -- embedding cache and meta --------------------------------------------------------------------

  async getCachedEmbeddings(db: SqlDb, keys: readonly string[]): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (const chunk of chunks([...new Set(keys)])) {
      const { rows } = await sql<{ key: string; embedding: Uint8Array }>`
        SELECT key, embedding FROM ${this.tables.cache} WHERE key IN (${sql.join(chunk)})`.execute(db);
      for (const row of rows) out.set(row.key, decodeEmbedding(row.embedding));
    }
    return out;
  }

  async getMeta(db: SqlDb, key: string): Promise<string | undefined> {
    const { rows } = await sql<{ value: string }>`
      SELECT value FROM ${this.tables.meta} WHERE key = ${key}`.execute(db);
    return rows[0]?.value;
  }

  async setMeta(db: SqlDb, key: string, value: string | null): Promise<void> {
    if (value === null) await sql`DELETE FROM ${this.tables.meta} WHERE key = ${key}`.execute(db);
    else
      await sql`
        INSERT INTO ${this.tables.meta} (key, value) VALUES (${key}, ${value})
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`.execute(db);
  }
}
