import {
  type Change,
  type CommitFacts,
  changeId,
  chunksBySize,
  commitStep,
  type IntentCommit,
  type IntentCommitOptions,
  type PreparedIntent,
  type StoredRecord,
} from '@dualwrite/core';
import {
  bool,
  int,
  intOrNull,
  type RecordLocking,
  type RecordRow,
  type SqlBool,
  type SqlInt,
  toStoredRecord,
} from '@dualwrite/sql';
import { sql } from 'kysely';
import type { ResultSetHeader, RowDataPacket } from 'mysql2';
import {
  idBytes,
  inlinedBytes,
  type MysqlBatchWriteContext,
  message,
  onWriteConnection,
  sendLocked,
  WRITE_CHUNK,
  writeMessageBytes,
} from './mysql-batch-write.js';

/**
 * sync-2pc's prepare (`RelationalStore.prepareIntents`) on MySQL / MariaDB in one round trip for up to 500
 * ids (one more per 500 after that, or per `messageBudget` of ids; the transaction path takes about six round
 * trips per id): multi-statement messages with `prepareIntentsInTx`'s statements — every id's slot lock
 * first, then the rows, which have an outbox entry, a version each and the intents — and COMMIT.
 * `changes` hold distinct ids, in the order their versions are drawn.
 */
export async function prepareIntentsInOneRoundTrip(
  context: MysqlBatchWriteContext,
  changes: readonly Change[],
  tokens: readonly string[],
  expiresAt: number,
  locking: RecordLocking,
): Promise<PreparedIntent[]> {
  const ids = changes.map(changeId);
  if (ids.length === 0) return [];
  const items = ids.map((id, i) => ({ id, token: tokens[i]! }));
  const chunks = chunksBySize(items, WRITE_CHUNK, context.messageBudget, (item) => idBytes(item.id));
  return onWriteConnection(context, 'prepareIntents', locking, async (connection) => {
    const results = await sendLocked(
      connection,
      context,
      ids,
      locking,
      chunks,
      (chunk) =>
        context.q.prepareChunk(
          chunk.map((item) => item.id),
          chunk.map((item) => item.token),
          expiresAt,
        ),
      true,
    );
    return chunks.flatMap((chunk, c) => {
      const r = results[c]!;
      const rows = new Map<string, StoredRecord>(
        (r[0] as unknown as RecordRow[]).map((row) => [row.id, toStoredRecord(row)]),
      );
      const queued = new Set((r[1] as RowDataPacket[]).map((row) => row.record_id as string));
      const versions = (r[r.length - 1] as RowDataPacket[])[0] as Record<string, SqlInt>;
      return chunk.map(({ id }, i) => ({
        previous: rows.get(id),
        version: int(versions[`v${i}`]!),
        contended: queued.has(id),
      }));
    });
  });
}

/**
 * sync-2pc's commit (`RelationalStore.commitIntents`) on MySQL / MariaDB in two round trips for up to 500 ids
 * (the transaction path takes about seven per id), deciding with core's own rule, `commitStep`:
 *
 * 1. BEGIN, the ids' slot locks, the no-ops' intents deleted, each write's intent deleted, then the facts the
 *    rule reads (rows, outbox entries, intents left);
 * 2. the record rows and outbox entries `commitStep` gives, and COMMIT.
 *
 * Each round trip takes more messages, in the same transaction, past 500 ids or the message budget.
 * `writes` hold distinct ids. On an error the transaction is rolled back.
 */
export async function commitIntentsInTwoRoundTrips(
  context: MysqlBatchWriteContext,
  writes: readonly IntentCommit[],
  options: IntentCommitOptions,
  locking: RecordLocking,
): Promise<string[]> {
  const { kysely, q } = context;
  const ids = writes.map((w) => w.next.id);
  return onWriteConnection(context, 'commitIntents', locking, async (connection) => {
    const drops = chunksBySize(options.dropTokens, WRITE_CHUNK, context.messageBudget, inlinedBytes);
    if (writes.length === 0) {
      if (drops.length === 0) return [];
      for (const [c, chunk] of drops.entries()) {
        const last = c === drops.length - 1;
        const drop = message(kysely, [
          ...(c === 0 ? [sql`START TRANSACTION`] : []),
          q.deleteIntents(chunk),
          ...(last ? [sql`COMMIT`] : []),
        ]);
        await connection.query(drop.sql, drop.values);
      }
      return [];
    }
    const chunks = chunksBySize([...writes], WRITE_CHUNK, context.messageBudget, (w) => idBytes(w.next.id));
    // The drops go with the first chunk, after the locks (recovery locks an id, then deletes its intent).
    const reads = await sendLocked(
      connection,
      context,
      ids,
      locking,
      chunks.map((chunk, c) => ({ chunk, drop: c === 0 ? options.dropTokens : [] })),
      ({ chunk, drop }) => {
        const read = q.commitReadChunk(
          chunk.map((w) => w.next.id),
          chunk.map((w) => w.token),
        );
        return [...(drop.length > 0 ? [q.deleteIntents(drop)] : []), ...read];
      },
      false,
    );
    const steps = chunks.flatMap((chunk, c) => {
      const drop = c === 0 && options.dropTokens.length > 0 ? 1 : 0;
      const r = reads[c]!.slice(drop);
      // Positions in `commitReadChunk`: an intent delete per write, then rows, outbox entries, intents left.
      const at = { records: chunk.length, queued: chunk.length + 1, intents: chunk.length + 2 };
      const rows = new Map(
        (r[at.records] as RowDataPacket[]).map((row) => [
          row.id as string,
          {
            version: int(row.version as SqlInt),
            deleted: bool(row.deleted as SqlBool),
            syncedVersion: intOrNull(row.synced_version as SqlInt | null),
          },
        ]),
      );
      const queued = new Set((r[at.queued] as RowDataPacket[]).map((row) => row.record_id as string));
      const intents = new Map(
        (r[at.intents] as RowDataPacket[]).map((row) => [row.record_id as string, int(row.n as SqlInt)]),
      );
      return chunk.map((write, i) => {
        const id = write.next.id;
        const facts: CommitFacts = {
          ours: (r[i] as ResultSetHeader).affectedRows > 0,
          current: rows.get(id),
          queued: queued.has(id),
          otherIntents: intents.get(id) ?? 0,
        };
        const step = commitStep(write, facts, options);
        return { id, record: step.record && q.recordValues(step.record), enqueue: step.enqueue };
      });
    });
    // Record rows at most WRITE_CHUNK and `messageBudget` bytes per message (see writeChangesInTwoRoundTrips),
    // each with its outbox entries; COMMIT with the last.
    const writeChunks = chunksBySize(steps, WRITE_CHUNK, context.messageBudget, (s) =>
      s.record ? writeMessageBytes(s.record) : idBytes(s.id),
    );
    for (const [c, chunk] of writeChunks.entries()) {
      const last = c === writeChunks.length - 1;
      const records = chunk.flatMap((s) => (s.record ? [s.record] : []));
      const enqueues = chunk.flatMap((s) => (s.enqueue ? [{ id: s.id, ...s.enqueue }] : []));
      const write = message(kysely, q.commitWrite(records, enqueues, options.now, last));
      await connection.query(write.sql, write.values);
    }
    return steps.flatMap((s) => (s.enqueue ? [s.id] : []));
  });
}
