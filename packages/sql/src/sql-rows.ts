/**
 * Rows as the SQL drivers return them, and their mapping to core's types. Drivers differ in how they return
 * a column: 64-bit integers as numbers (better-sqlite3) or decimal strings (node-postgres `int8`), booleans
 * as `0/1` or `true/false`, JSON as text or parsed. The mappers accept either.
 */
import {
  decodeEmbedding,
  encodeEmbedding,
  type LedgerOutboxRow,
  type Metadata,
  type OutboxEntry,
  type OutboxLease,
  type OutboxOp,
  type OutboxState,
  type StoredRecord,
  type TwoPhaseIntent,
} from '@dualwrite/core';

/** An integer column: a number, a decimal string (`int8` in node-postgres) or a bigint. */
export type SqlInt = number | string | bigint;
/** A boolean column: `0/1` (SQLite, MySQL) or `true/false` (PostgreSQL). */
export type SqlBool = number | boolean;

/** A `records` row. */
export interface RecordRow {
  id: string;
  text: string;
  embedding: Uint8Array | null;
  /** JSON text, or already parsed (PostgreSQL `jsonb`). */
  metadata: string | Metadata;
  version: SqlInt;
  deleted: SqlBool;
  content_hash: string;
  synced_version: SqlInt | null;
  created_at: SqlInt;
  updated_at: SqlInt;
}

/** An `outbox` row. */
export interface OutboxRow {
  record_id: string;
  version: SqlInt;
  op: OutboxOp;
  state: OutboxState;
  attempts: SqlInt;
  next_attempt_at: SqlInt;
  enqueued_at: SqlInt;
  last_error: string | null;
  lease_owner: string | null;
  lease_token: string | null;
  lease_until: SqlInt | null;
  lease_version: SqlInt | null;
}

/**
 * A row a one-statement claim returns: the leased row, and whether the claim took over an expired lease on it
 * (`taken_over`, see `OutboxLease.takenOver`).
 */
export interface ClaimedOutboxRow extends OutboxRow {
  taken_over: SqlBool;
}

/** An `intents` row. */
export interface IntentRow {
  token: string;
  record_id: string;
  version: SqlInt;
  expires_at: SqlInt;
}

/** Parses an integer column. @throws {RangeError} beyond `Number.MAX_SAFE_INTEGER` (never reached by Unix ms). */
export function int(value: SqlInt): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`[dualwrite] [sql] integer out of range: ${value}`);
  return n;
}

/** {@link int}, keeping `null`. */
export function intOrNull(value: SqlInt | null | undefined): number | null {
  return value === null || value === undefined ? null : int(value);
}

/** Parses a boolean column. */
export function bool(value: SqlBool): boolean {
  return value === true || value === 1;
}

/** Maps a `records` row. */
export function toStoredRecord(row: RecordRow): StoredRecord {
  return {
    id: row.id,
    text: row.text,
    embedding: row.embedding === null ? null : decodeEmbedding(row.embedding),
    metadata: typeof row.metadata === 'string' ? (JSON.parse(row.metadata) as Metadata) : row.metadata,
    version: int(row.version),
    deleted: bool(row.deleted),
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
    attempts: int(row.attempts),
    nextAttemptAt: int(row.next_attempt_at),
    enqueuedAt: int(row.enqueued_at),
    lastError: row.last_error,
  };
}

/** Maps an `outbox` row with its lease columns, as the ledger reads it. */
export function toLedgerRow(row: OutboxRow): LedgerOutboxRow {
  return {
    ...toOutboxEntry(row),
    leaseToken: row.lease_token,
    leaseOwner: row.lease_owner,
    leaseUntil: intOrNull(row.lease_until),
    leaseVersion: intOrNull(row.lease_version),
  };
}

/** Maps a row a one-statement claim leased. */
export function toOutboxLease(row: ClaimedOutboxRow): OutboxLease {
  return {
    ...toOutboxEntry(row),
    leaseOwner: row.lease_owner ?? '',
    leaseToken: row.lease_token ?? '',
    leaseUntil: int(row.lease_until ?? 0),
    takenOver: bool(row.taken_over),
  };
}

/** Maps an `intents` row. */
export function toIntent(row: IntentRow): TwoPhaseIntent {
  return {
    token: row.token,
    recordId: row.record_id,
    version: int(row.version),
    expiresAt: int(row.expires_at),
  };
}

/**
 * An embedding as the bytes of its float32 column (`BLOB`, `bytea`), `-0` (also a tiny negative component
 * rounded to it) written as `0`: the two are equal values (core's `embeddingEqual`), and one spelling lets a
 * store tell an unchanged embedding by comparing bytes (MySQL's write procedure does).
 */
export function embeddingBytes(embedding: readonly number[]): Buffer {
  const zeroed = embedding.some((x) => Math.fround(x) === 0)
    ? embedding.map((x) => (Math.fround(x) === 0 ? 0 : x))
    : embedding;
  const bytes = encodeEmbedding(zeroed);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Metadata as the JSON text of its column, keys sorted (UTF-16 code units, as core's content hash sorts them):
 * equal metadata in any key order is one text, so a store can tell an unchanged put by comparing texts
 * (PostgreSQL's write function does). Reads parse it back to the same values.
 */
export function metadataJson(metadata: Metadata): string {
  const keys = Object.keys(metadata);
  if (keys.length < 2) return JSON.stringify(metadata);
  return JSON.stringify(Object.fromEntries(keys.sort().map((k) => [k, metadata[k]])));
}
