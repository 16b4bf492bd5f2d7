import { encodeEmbedding } from '@dualwrite/core';
import Database from 'better-sqlite3';
import type { RawRow } from './relational-backends.js';

/**
 * The baselines' relational side: better-sqlite3 directly, one table equivalent to the record row the
 * SQLite store writes (text, float32 blob embedding, metadata JSON, version), the same PRAGMAs as
 * `SqliteRelationalStore` (WAL, `synchronous = NORMAL`), and no outbox. Each {@link insert} is one
 * autocommit transaction.
 */
export class RawSqliteTable {
  private readonly db: Database.Database;
  private readonly insertStmt: Database.Statement<
    [string, string, Uint8Array, string, number, number, number]
  >;

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
  }

  /** Inserts (or replaces) one row in its own autocommit transaction. */
  insert(row: RawRow): void {
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
