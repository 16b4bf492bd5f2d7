/**
 * A drain worker's claim and ack on MySQL / MariaDB in two round trips each, as multi-statement messages: the
 * shared statements of `SqlQueries` (the same locks, rows and rules as the transaction path, which takes four
 * round trips for a claim and seven for an ack), decided in memory between the two messages.
 * @internal
 */
import { type AckOutcome, chunksBySize, type OutboxAck, type OutboxLease, supersedes } from '@dualwrite/core';
import { type ClaimLease, newLeases, type OutboxRow, type RecordLocking, toLedgerRow } from '@dualwrite/sql';
import { type RawBuilder, sql } from 'kysely';
import type { RowDataPacket } from 'mysql2';
import type { PoolConnection } from 'mysql2/promise';
import {
  inlinedBytes,
  type MysqlBatchWriteContext,
  message,
  onWriteConnection,
  readLocked,
  WRITE_CHUNK,
} from './mysql-batch-write.js';

/** The ack needs the ledger's repair of a lost lease (its record's state, the sequence): the caller's path. */
export const LEASE_LOST = Symbol('lease-lost');

/** Sends `statements` as one message on `connection`; resolves to each statement's result. */
async function send(
  connection: PoolConnection,
  context: MysqlBatchWriteContext,
  statements: readonly RawBuilder<unknown>[],
): Promise<RowDataPacket[][]> {
  const sent = message(context.kysely, statements);
  const [results] = await connection.query<RowDataPacket[][]>(sent.sql, sent.values);
  // mysql2 answers a message of one statement with that statement's result, not a list of one.
  return statements.length === 1 ? [results as unknown as RowDataPacket[]] : results;
}

/**
 * Sends `statements` and then COMMIT in as few messages as fit `messageBudget` (one, unless the statements name
 * many long ids: a message over the server's `max_allowed_packet` is refused by dropping the connection).
 */
async function sendAndCommit(
  connection: PoolConnection,
  context: MysqlBatchWriteContext,
  statements: readonly RawBuilder<unknown>[],
): Promise<void> {
  const bytes = (statement: RawBuilder<unknown>) => {
    const compiled = statement.compile(context.kysely);
    return compiled.sql.length + compiled.parameters.reduce<number>((sum, v) => sum + inlinedBytes(v), 0);
  };
  const messages = chunksBySize([...statements, sql`COMMIT`], WRITE_CHUNK, context.messageBudget, bytes);
  for (const part of messages) await send(connection, context, part);
}

/**
 * `RelationalStore.claimOutbox` in two round trips: BEGIN and the due rows (`FOR UPDATE SKIP LOCKED`, so
 * concurrent claimers skip each other's), then their leases (a fresh token each) and COMMIT — or, when nothing
 * is due, COMMIT alone. Rolled back on an error (see `onWriteConnection`).
 */
export function claimInTwoRoundTrips(
  context: MysqlBatchWriteContext,
  { owner, now, leaseUntil, limit }: ClaimLease,
): Promise<OutboxLease[]> {
  return onWriteConnection(context, 'claimOutbox', 'wait', async (connection) => {
    const [, due] = await send(connection, context, [
      sql`START TRANSACTION`,
      context.q.dueOutboxStatement(now, limit),
    ]);
    const leases = newLeases(due as unknown as OutboxRow[], owner, leaseUntil);
    await sendAndCommit(connection, context, context.q.leaseStatements(leases));
    return leases;
  });
}

/**
 * `RelationalStore.ackOutbox` of distinct ids in two round trips, by core's ledger rule: BEGIN, the ids' slot
 * locks (in slot order; with `locking` `'try'` without waiting, see `onWriteConnection`) and their outbox rows
 * (`FOR UPDATE`); then, for the leases still held, the synced versions raised, the superseded leases cleared
 * (claimable by `now`), the acked entries deleted with their tombstones (unless an intent exists), and COMMIT.
 * Either message is split where it would pass `messageBudget` (500 ids per read; the shared statements are
 * sized to fit one each).
 * @returns the outcomes in the order of `acks`; {@link LEASE_LOST} (rolled back, nothing written) when a lease
 *   was lost: its repair needs the ledger's reads, which the caller's transaction path makes.
 */
export function ackInTwoRoundTrips(
  context: MysqlBatchWriteContext,
  acks: readonly OutboxAck[],
  now: number,
  locking: RecordLocking,
): Promise<AckOutcome[] | typeof LEASE_LOST> {
  const ids = acks.map((a) => a.recordId);
  const { q } = context;
  return onWriteConnection(context, 'ackOutbox', locking, async (connection) => {
    const read = await readLocked<OutboxRow>(connection, context, ids, locking, (chunk) =>
      q.outboxRowsStatements(chunk),
    );
    const rows = new Map(read.map((row) => [row.record_id, toLedgerRow(row)]));
    if (acks.some((a) => rows.get(a.recordId)?.leaseToken !== a.leaseToken)) {
      await connection.query('ROLLBACK');
      return LEASE_LOST;
    }
    const superseded = new Set(acks.filter((a) => supersedes(rows.get(a.recordId)!, a.appliedVersion)));
    const cleared = acks.filter((a) => superseded.has(a)).map((a) => a.recordId);
    const acked = acks.filter((a) => !superseded.has(a));
    await sendAndCommit(connection, context, [
      ...q.raiseSyncedStatements(acks),
      ...(cleared.length > 0 ? q.clearLeasesStatements(cleared, now) : []),
      ...(acked.length > 0 ? q.completeStatements(acked) : []),
    ]);
    return acks.map((a) => (superseded.has(a) ? 'superseded' : 'acked'));
  });
}
