import type {
  OutboxEntry,
  OutboxOp,
  RecordWrite,
  RelationalTx,
  StoredRecord,
  TwoPhaseIntent,
} from '@dualwrite/core';
import type { SqlDb, SqlQueries } from './sql-queries.js';

/**
 * The unit of work a SQL store hands to `transaction(fn)`, written once: valid only until the callback
 * settles (later calls throw), driver errors mapped to core's typed errors. `native` is the Kysely instance
 * bound to the transaction. A dialect supplies the write path: how a record is read and written (and
 * locked), the version sequence and the enqueue.
 */
export abstract class SqlTx implements RelationalTx<SqlDb> {
  #open = true;

  constructor(
    readonly native: SqlDb,
    protected readonly q: SqlQueries,
    private readonly dialect: { component: string; mapError: (error: unknown, operation: string) => unknown },
  ) {}

  abstract getRecord(id: string): Promise<StoredRecord | undefined>;
  abstract nextVersion(atLeast?: number): Promise<number>;
  abstract writeRecord(record: RecordWrite): Promise<void>;
  abstract enqueue(recordId: string, version: number, op: OutboxOp, now: number): Promise<void>;

  /** Ends the tx object's life: later calls throw. */
  finish(): void {
    this.#open = false;
  }

  /** Runs one operation of the tx: refused after the callback settled; driver errors mapped. */
  protected async run<T>(operation: string, fn: () => Promise<T> | T): Promise<T> {
    if (!this.#open)
      throw new Error(
        `[dualwrite] [${this.dialect.component}] tx.${operation}() called after the transaction callback settled`,
      );
    try {
      return await fn();
    } catch (error) {
      throw this.dialect.mapError(error, `tx.${operation}`);
    }
  }

  getOutboxEntry(recordId: string): Promise<OutboxEntry | undefined> {
    return this.run('getOutboxEntry', () => this.q.getOutboxEntry(this.native, recordId));
  }

  countIntents(recordId: string): Promise<number> {
    return this.run('countIntents', () => this.q.countIntents(this.native, recordId));
  }

  putIntent(intent: TwoPhaseIntent): Promise<void> {
    return this.run('putIntent', () => this.q.putIntent(this.native, intent));
  }

  async deleteIntent(token: string): Promise<boolean> {
    return this.run(
      'deleteIntent',
      async () => (await this.q.deleteIntent(this.native, token)) !== undefined,
    );
  }
}
