import type { OutboxOp, RecordWrite } from '@dualwrite/core';
import { embeddingBytes, type OutboxRow, type RecordRow } from '@dualwrite/sql';
import type Database from 'better-sqlite3';
import type { SqliteTableNames } from './sqlite-relational-store-options.js';

/** The SQL text of the statements on every write's path, with their parameter order. @internal */
export function hotSql(tables: SqliteTableNames) {
  const q = (name: string) => `"${name}"`;
  return {
    getRecord: `SELECT * FROM ${q(tables.records)} WHERE id = ?`,
    nextVersion: `INSERT INTO ${q(tables.sequence)} (name, value) VALUES ('version', ? + 1)
      ON CONFLICT (name) DO UPDATE SET value = max(value, ?) + 1 RETURNING value`,
    writeRecord: `INSERT INTO ${q(tables.records)}
        (id, text, embedding, metadata, version, deleted, content_hash, synced_version, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET
        text = excluded.text,
        embedding = excluded.embedding,
        metadata = excluded.metadata,
        version = excluded.version,
        deleted = excluded.deleted,
        content_hash = excluded.content_hash,
        synced_version = CASE
          WHEN excluded.synced_version IS NULL THEN synced_version
          WHEN synced_version IS NULL OR excluded.synced_version > synced_version THEN excluded.synced_version
          ELSE synced_version END,
        created_at = CASE WHEN deleted = 1 AND excluded.deleted = 0 THEN excluded.created_at ELSE created_at END,
        updated_at = excluded.updated_at`,
    enqueue: `INSERT INTO ${q(tables.outbox)}
        (record_id, version, op, state, attempts, next_attempt_at, enqueued_at, last_error,
         lease_owner, lease_token, lease_until, lease_version)
      VALUES (?, ?, ?, 'pending', 0, ?, ?, NULL, NULL, NULL, NULL, NULL)
      ON CONFLICT (record_id) DO UPDATE SET
        version = excluded.version,
        op = excluded.op,
        attempts = 0,
        state = 'pending',
        next_attempt_at = excluded.next_attempt_at,
        enqueued_at = CASE WHEN state = 'pending' THEN enqueued_at ELSE excluded.enqueued_at END`,
    getOutbox: `SELECT * FROM ${q(tables.outbox)} WHERE record_id = ?`,
  } as const;
}

/** Parameters of `writeRecord`, in statement order. @internal */
export function writeRecordParams(r: RecordWrite): unknown[] {
  const blob = r.embedding === null ? null : embeddingBytes(r.embedding);
  return [
    r.id,
    r.text,
    blob,
    JSON.stringify(r.metadata),
    r.version,
    r.deleted ? 1 : 0,
    r.contentHash,
    r.syncedVersion,
    r.now,
    r.now,
  ];
}

/** Parameters of `enqueue`, in statement order. @internal */
export function enqueueParams(recordId: string, version: number, op: OutboxOp, now: number): unknown[] {
  return [recordId, version, op, now, now];
}

/**
 * The write path's statements prepared once on the raw better-sqlite3 connection. Only for use inside a
 * transaction that holds the store's (single) connection: better-sqlite3 is synchronous, so these run in
 * that transaction, skipping Kysely's per-query compile and dispatch. @internal
 */
export class SqliteHotStatements {
  readonly #getRecord: Database.Statement;
  readonly #nextVersion: Database.Statement;
  readonly #writeRecord: Database.Statement;
  readonly #enqueue: Database.Statement;
  readonly #getOutbox: Database.Statement;

  constructor(db: Database.Database, tables: SqliteTableNames) {
    const text = hotSql(tables);
    this.#getRecord = db.prepare(text.getRecord);
    this.#nextVersion = db.prepare(text.nextVersion);
    this.#writeRecord = db.prepare(text.writeRecord);
    this.#enqueue = db.prepare(text.enqueue);
    this.#getOutbox = db.prepare(text.getOutbox);
  }

  getRecord(id: string): RecordRow | undefined {
    return this.#getRecord.get(id) as RecordRow | undefined;
  }

  nextVersion(floor: number): number {
    return (this.#nextVersion.get(floor, floor) as { value: number }).value;
  }

  writeRecord(r: RecordWrite): void {
    this.#writeRecord.run(...writeRecordParams(r));
  }

  enqueue(recordId: string, version: number, op: OutboxOp, now: number): void {
    this.#enqueue.run(...enqueueParams(recordId, version, op, now));
  }

  getOutbox(recordId: string): OutboxRow | undefined {
    return this.#getOutbox.get(recordId) as OutboxRow | undefined;
  }
}
