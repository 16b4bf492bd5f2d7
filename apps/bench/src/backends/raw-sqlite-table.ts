import { encodeEmbedding } from '@dualwrite/core';
import Database from 'better-sqlite3';
import type { RawRow } from './relational-backends.js';

/**
 * The baselines' relational side: better-sqlite3 directly, one table equivalent to the record row the
 * SQLite store writes (text, float32 blob embedding, metadata JSON, version), the same PRAGMAs as
 * `SqliteRelationalStore` (WAL, `synchronous = NORMAL`). Each {@link insert} is one autocommit
 * transaction; {@link insertWithOutbox} is the floor of a durable put (`raw-outbox-tx`): `BEGIN IMMEDIATE`,
 * the record row, an outbox row shaped like the store's (with its due index), `COMMIT`, prepared statements.
 */
export class RawSqliteTable {
  private readonly db: Database.Database;
  private readonly insertStmt: Database.Statement<
    [string, string, Uint8Array, string, number, number, number]
  >;
  private readonly outboxStmt: Database.Statement<[string, number, number, number]>;
  private readonly withOutbox: (row: RawRow) => void;
  private readonly many: (rows: readonly RawRow[]) => void;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS records (
      id TEXT PRIMARY KEY NOT NULL,
      text TEXT NOT NULL,
      embedding BLOB NOT NULL,
      metadata TEXT NOT NULL,
      version INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    )`);
    this.insertStmt = this.db.prepare(
      `INSERT INTO records (id, text, embedding, metadata, version, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET text = excluded.text, embedding = excluded.embedding,
       metadata = excluded.metadata, version = excluded.version, updated_at = excluded.updated_at`,
    );
    this.db.exec(`CREATE TABLE IF NOT EXISTS outbox (
      record_id TEXT PRIMARY KEY NOT NULL,
      version INTEGER NOT NULL,
      op TEXT NOT NULL,
      state TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      next_attempt_at INTEGER NOT NULL,
      enqueued_at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_at, enqueued_at) WHERE state = 'pending'`);
    this.outboxStmt = this.db.prepare(
      `INSERT INTO outbox (record_id, version, op, state, attempts, next_attempt_at, enqueued_at)
       VALUES (?, ?, 'upsert', 'pending', 0, ?, ?)
       ON CONFLICT (record_id) DO UPDATE SET version = excluded.version, attempts = 0,
       next_attempt_at = excluded.next_attempt_at`,
    );
    const tx = this.db.transaction((row: RawRow) => {
      const now = this.insert(row);
      this.outboxStmt.run(row.id, row.version, now, now);
    });
    this.withOutbox = (row) => tx.immediate(row);
    const manyTx = this.db.transaction((rows: readonly RawRow[]) => {
      for (const row of rows) this.insert(row);
    });
    this.many = (rows) => manyTx.immediate(rows);
  }

  /** Inserts (or replaces) one row in its own autocommit transaction; returns the time it wrote, ms. */
  insert(row: RawRow): number {
    const now = Date.now();
    this.insertStmt.run(
      row.id,
      row.text,
      encodeEmbedding(row.embedding),
      JSON.stringify(row.metadata),
      row.version,
      now,
      now,
    );
    return now;
  }

  /** Many rows in one `BEGIN IMMEDIATE` transaction (no outbox). */
  insertMany(rows: readonly RawRow[]): void {
    this.many(rows);
  }

  /** The row and its outbox entry in one `BEGIN IMMEDIATE` transaction. */
  insertWithOutbox(row: RawRow): void {
    this.withOutbox(row);
  }

  /** Every `(id, version)` in the table. */
  versions(): Map<string, number> {
    const rows = this.db.prepare('SELECT id, version FROM records').all() as {
      id: string;
      version: number;
    }[];
    return new Map(rows.map((r) => [r.id, r.version]));
  }

  close(): void {
    this.db.close();
  }
}
