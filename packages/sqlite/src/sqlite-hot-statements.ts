import type { OutboxOp, RecordWrite } from '@dualwrite/core';
import type { OutboxRow, RecordRow } from '@dualwrite/sql';
import type Database from 'better-sqlite3';
import type { SqliteQueries } from './sqlite-queries.js';
import type { SqliteKysely } from './sqlite-relational-store-options.js';

/**
 * The write path's statements — the shared SQL of `SqlQueries`, compiled once — prepared on the raw
 * better-sqlite3 connection. Only for use inside a transaction that holds the store's (single) connection:
 * better-sqlite3 is synchronous, so these run in that transaction, skipping Kysely's per-query compile and
 * dispatch. @internal
 */
export class SqliteHotStatements {
  readonly #getRecord: Database.Statement;
  readonly #nextVersion: Database.Statement;
  readonly #writeRecord: Database.Statement;
  readonly #enqueue: Database.Statement;
  readonly #getOutbox: Database.Statement;

  constructor(
    raw: Database.Database,
    db: SqliteKysely,
    private readonly q: SqliteQueries,
  ) {
    const prepare = (query: { compile(db: SqliteKysely): { sql: string } }) =>
      raw.prepare(query.compile(db).sql);
    this.#getRecord = prepare(q.getRecordQuery(''));
    this.#nextVersion = prepare(q.nextVersionQuery(0));
    this.#writeRecord = prepare(q.writeRecordQuery(new Array(10).fill(null)));
    this.#enqueue = prepare(q.enqueueQuery(new Array(5).fill(null)));
    this.#getOutbox = prepare(q.getOutboxQuery(''));
  }

  getRecord(id: string): RecordRow | undefined {
    return this.#getRecord.get(id) as RecordRow | undefined;
  }

  nextVersion(floor: number): number {
    return (this.#nextVersion.get(floor, floor) as { value: number }).value;
  }

  writeRecord(r: RecordWrite): void {
    this.#writeRecord.run(...this.q.recordValues(r));
  }

  enqueue(recordId: string, version: number, op: OutboxOp, now: number): void {
    this.#enqueue.run(recordId, version, op, now, now);
  }

  getOutbox(recordId: string): OutboxRow | undefined {
    return this.#getOutbox.get(recordId) as OutboxRow | undefined;
  }
}
