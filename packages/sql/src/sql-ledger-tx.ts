import type { LedgerOutboxPatch, LedgerOutboxRow, LedgerTx, OutboxOp } from '@dualwrite/core';
import type { SqlDb, SqlQueries } from './sql-queries.js';

/**
 * The outbox ledger's primitives (`LedgerTx` of `@dualwrite/core`) over one SQL transaction: run core's
 * `ackDelivery`, `failDelivery`, `releaseLease`, `renewLease` and `enqueueRepair` with it
 * inside a write transaction that holds the records' locks (the dialect's job). Outbox rows are read
 * `FOR UPDATE` where the dialect's rows lock.
 */
export class SqlLedgerTx implements LedgerTx {
  constructor(
    private readonly db: SqlDb,
    private readonly q: SqlQueries,
  ) {}

  getOutboxRow(recordId: string): Promise<LedgerOutboxRow | undefined> {
    return this.q.getOutboxRow(this.db, recordId, true);
  }
  updateOutboxRow(recordId: string, patch: LedgerOutboxPatch): Promise<void> {
    return this.q.updateOutboxRow(this.db, recordId, patch);
  }
  deleteOutboxRow(recordId: string): Promise<void> {
    return this.q.deleteOutboxRow(this.db, recordId);
  }
  enqueue(recordId: string, version: number, op: OutboxOp, now: number): Promise<void> {
    return this.q.enqueue(this.db, recordId, version, op, now);
  }
  getRecordState(recordId: string): Promise<{ version: number; deleted: boolean } | undefined> {
    return this.q.getRecordState(this.db, recordId);
  }
  raiseSyncedVersion(recordId: string, version: number): Promise<void> {
    return this.q.markSynced(this.db, recordId, version);
  }
  deleteTombstone(recordId: string, version: number): Promise<void> {
    return this.q.deleteTombstone(this.db, recordId, version);
  }
  countIntents(recordId: string): Promise<number> {
    return this.q.countIntents(this.db, recordId);
  }
  currentVersion(): Promise<number> {
    return this.q.currentVersion(this.db);
  }
}
