import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { openRelational } from '@dualwrite/config';
import { encodeEmbedding, type Metadata, type RelationalStore } from '@dualwrite/core';
import { RawSqliteTable } from './raw-sqlite-table.js';

/** Where a run's relational data lives (what a drain worker process needs to reach it). */
export type RelationalLocation =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; databaseUrl: string; schema: string; tablePrefix: string }
  | { kind: 'mysql'; databaseUrl: string; tablePrefix: string };

/** A fresh relational store for one run, and how to throw it away afterwards. */
export interface RelationalLease {
  store: RelationalStore;
  location: RelationalLocation;
  /** Closes the store (if still open) and deletes its data. */
  dispose(): Promise<void>;
}

/** One row of a baseline's raw table (the record row, without the store's bookkeeping columns). */
export interface RawRow {
  id: string;
  text: string;
  embedding: readonly number[];
  metadata: Metadata;
  version: number;
}

/**
 * The bound values of a raw upsert of `row`, in the order `(id, text, embedding, metadata, version,
 * created_at, updated_at)`: the embedding as float32 bytes, the metadata as JSON text, both times `now`.
 */
export function rawRowValues(row: RawRow, now: number): unknown[] {
  const bytes = encodeEmbedding(row.embedding);
  const blob = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [row.id, row.text, blob, JSON.stringify(row.metadata), row.version, now, now];
}

/**
 * The baselines' relational side (`<relational>-only`, `naive-dual-write`, `raw-outbox-tx`): the backend's
 * own client directly, one table equivalent to the record row the store writes and one equivalent to its
 * outbox (with its due index).
 */
export interface RawTable {
  /** The record row alone, one autocommit statement (`<relational>-only`, `naive-dual-write`). */
  insert(row: RawRow): Promise<void>;
  /**
   * The record row and its outbox row committed together, in the fewest round trips the backend allows
   * (`raw-outbox-tx`, the floor of a durable put): SQLite `BEGIN IMMEDIATE` + two prepared inserts +
   * `COMMIT`; PostgreSQL one autocommit statement (a data-modifying CTE); MySQL one multi-statement message
   * `BEGIN; INSERT; INSERT; COMMIT`.
   */
  insertWithOutbox(row: RawRow): Promise<void>;
  /**
   * Many record rows in one go, no outbox (the bare bulk insert `putMany` is compared with): SQLite one
   * `BEGIN IMMEDIATE` transaction of prepared inserts; PostgreSQL one prepared autocommit statement over
   * arrays (`unnest`); MySQL one multi-row `INSERT … ON DUPLICATE KEY UPDATE`.
   */
  insertMany(rows: readonly RawRow[]): Promise<void>;
  /** Every `(id, version)` in the table. */
  versions(): Promise<Map<string, number>>;
  /** Closes the connection and deletes the table's data (file / schema). */
  dispose(): Promise<void>;
}

/** A relational backend (source of truth) the benchmark can run against. */
export interface RelationalBackend {
  /** Backend name as it appears in results (`sqlite`, `postgres`, `mysql`). */
  readonly name: 'sqlite' | 'postgres' | 'mysql';
  /** Opens a new, empty database named after `runId` (not yet initialised: the facade does that). */
  open(runId: string): Promise<RelationalLease>;
  /** Opens a new, empty raw table named after `runId` for the baselines. */
  openRawTable(runId: string): Promise<RawTable>;
  /** Deletes whatever a run left behind (interrupted runs). Idempotent. */
  shutdown(): Promise<void>;
}

/** `SqliteRelationalStore` on a new database file under `workDir` per run (the files go with `workDir`). */
export function sqliteBackend(workDir: string): RelationalBackend {
  return {
    name: 'sqlite',
    async open(runId) {
      const path = join(workDir, `${runId}.sqlite`);
      const { store } = await openRelational({ kind: 'sqlite', sqlitePath: path });
      return {
        store,
        location: { kind: 'sqlite', path },
        async dispose() {
          await store.close();
          await removeSqliteFiles(path);
        },
      };
    },
    async openRawTable(runId) {
      const path = join(workDir, `${runId}.sqlite`);
      const table = new RawSqliteTable(path);
      return {
        async insert(row) {
          table.insert(row);
        },
        async insertWithOutbox(row) {
          table.insertWithOutbox(row);
        },
        async insertMany(rows) {
          table.insertMany(rows);
        },
        async versions() {
          return table.versions();
        },
        async dispose() {
          table.close();
          await removeSqliteFiles(path);
        },
      };
    },
    async shutdown() {},
  };
}

/** Deletes a SQLite database file and its WAL/SHM companions. */
export async function removeSqliteFiles(path: string): Promise<void> {
  await Promise.all(['', '-wal', '-shm', '-journal'].map((s) => rm(`${path}${s}`, { force: true })));
}
