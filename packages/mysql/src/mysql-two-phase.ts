import {
  type Change,
  type CommitFacts,
  chunksBySize,
  commitStep,
  type IntentCommit,
  type IntentCommitOptions,
  type PreparedIntent,
} from '@dualwrite/core';
import {
  bool,
  int,
  intOrNull,
  type RecordRow,
  type SqlBool,
  type SqlInt,
  toStoredRecord,
} from '@dualwrite/sql';
import type { ResultSetHeader, RowDataPacket } from 'mysql2';
import {
  type MysqlBatchWriteContext,
  message,
  onWriteConnection,
  WRITE_CHUNK,
  writeMessageBytes,
} from './mysql-batch-write.js';

type Results = (RowDataPacket[] | ResultSetHeader)[];

/**
 * sync-2pc's prepare (`RelationalStore.prepareIntents`) on MySQL / MariaDB in one round trip (the transaction
 * path takes about seven per id): one multi-statement message with `prepareIntentsInTx`'s statements — the
 * ids' slot locks, their rows, which have an outbox entry, a version each and the intents — and COMMIT.
 * `changes` hold distinct ids, in the order their versions are drawn.
 */
export async function prepareIntentsInOneRoundTrip(
  context: MysqlBatchWriteContext,
  changes: readonly Change[],
  tokens: readonly string[],
  expiresAt: number,
): Promise<PreparedIntent[]> {
  const ids = changes.map((c) => (c.op === 'put' ? c.record.id : c.id));
  return onWriteConnection(context, 'prepareIntents', async (connection) => {
    const prepare = message(context.kysely, context.q.prepareIntents(ids, tokens, expiresAt));
    const [results] = (await connection.query(prepare.sql, prepare.values)) as unknown as [Results];
    const rows = new Map((results[2] as unknown as RecordRow[]).map((row) => [row.id, toStoredRecord(row)]));
    const queued = new Set((results[3] as RowDataPacket[]).map((row) => row.record_id as string));
    const versions = (results[results.length - 2] as RowDataPacket[])[0] as Record<string, SqlInt>;
    return ids.map((id, i) => ({
      previous: rows.get(id),
      version: int(versions[`v${i}`]!),
      contended: queued.has(id),
    }));
  });
}

/**
 * sync-2pc's commit (`RelationalStore.commitIntents`) on MySQL / MariaDB in two round trips (the transaction
 * path takes about nine per id), deciding with core's own rule, `commitStep`:
 *
 * 1. BEGIN, the no-ops' intents deleted, the ids' slot locks, each write's intent deleted, then the facts the
 *    rule reads (rows, outbox entries, intents left);
 * 2. the record rows and outbox entries `commitStep` gives, and COMMIT (more messages in the same transaction
 *    when the rows exceed the message budget).
 *
 * `writes` hold distinct ids. On an error the transaction is rolled back.
 */
export async function commitIntentsInTwoRoundTrips(
  context: MysqlBatchWriteContext,
  writes: readonly IntentCommit[],
  options: IntentCommitOptions,
): Promise<void> {
  const { kysely, q } = context;
  return onWriteConnection(context, 'commitIntents', async (connection) => {
    if (writes.length === 0) {
      if (options.dropTokens.length === 0) return;
      const drop = message(kysely, q.dropIntents(options.dropTokens));
      await connection.query(drop.sql, drop.values);
      return;
    }
    const ids = writes.map((w) => w.next.id);
    const read = q.commitRead(
      ids,
      writes.map((w) => w.token),
      options.dropTokens,
    );
    const { sql, values } = message(kysely, read.statements);
    const [results] = (await connection.query(sql, values)) as unknown as [Results];
    const rows = new Map(
      (results[read.at.records] as RowDataPacket[]).map((r) => [
        r.id as string,
        {
          version: int(r.version as SqlInt),
          deleted: bool(r.deleted as SqlBool),
          syncedVersion: intOrNull(r.synced_version as SqlInt | null),
        },
      ]),
    );
    const queued = new Set((results[read.at.queued] as RowDataPacket[]).map((r) => r.record_id as string));
    const intents = new Map(
      (results[read.at.intents] as RowDataPacket[]).map((r) => [r.record_id as string, int(r.n as SqlInt)]),
    );
    const steps = writes.map((write, i) => {
      const id = write.next.id;
      const facts: CommitFacts = {
        ours: (results[read.at.deleted[i]!] as ResultSetHeader).affectedRows > 0,
        current: rows.get(id),
        queued: queued.has(id),
        otherIntents: intents.get(id) ?? 0,
      };
      return { id, ...commitStep(write, facts, options) };
    });
    const records = steps.flatMap((s) => (s.record ? [q.recordValues(s.record)] : []));
    const enqueues = steps.flatMap((s) => (s.enqueue ? [{ id: s.id, ...s.enqueue }] : []));
    // Record rows at most WRITE_CHUNK and `messageBudget` bytes per message (see writeChangesInTwoRoundTrips);
    // the outbox entries and COMMIT go with the last.
    const chunks =
      records.length > 0
        ? chunksBySize(records, WRITE_CHUNK, context.messageBudget, writeMessageBytes)
        : [[]];
    for (const [c, chunk] of chunks.entries()) {
      const last = c === chunks.length - 1;
      const write = message(kysely, q.commitWrite(chunk, last ? enqueues : [], options.now, last));
      await connection.query(write.sql, write.values);
    }
  });
}
