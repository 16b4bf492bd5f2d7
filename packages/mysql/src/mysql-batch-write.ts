import {
  type Change,
  chunksBySize,
  planWrites,
  type StoredRecord,
  TransientBackendError,
  type ValidRecord,
  type WriteResult,
} from '@dualwrite/core';
import {
  int,
  type RecordLocking,
  type RecordRow,
  RecordsBusy,
  type SqlInt,
  toStoredRecord,
} from '@dualwrite/sql';
import { type RawBuilder, sql } from 'kysely';
import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2';
import type { PoolConnection } from 'mysql2/promise';
import { MYSQL_COMPONENT, mapMysqlError } from './mysql-errors.js';
import { isLockRefusal, type MysqlQueries } from './mysql-queries.js';
import type { MysqlKysely } from './mysql-relational-store-options.js';

/** What the store's multi-statement and procedure writes need of it. */
export interface MysqlBatchWriteContext {
  /** The store's pool (opened with `multipleStatements`). */
  pool: Pool;
  /** The store's Kysely instance (compiles the statements). */
  kysely: MysqlKysely;
  q: MysqlQueries;
  /** Statements setting the store's session variables (lock wait timeout, READ COMMITTED). */
  sessionSettings: readonly string[];
  /** Largest write message, bytes (below the server's `max_allowed_packet`). */
  messageBudget: number;
  /**
   * Longest wait for the server's answer to one message, ms ({@link onWriteConnection}): past it the connection
   * is closed, which rolls its transaction back.
   */
  answerWithinMs: number;
}

/** Thrown into a write whose message the server did not answer within `answerWithinMs`. */
class NoAnswer extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'NoAnswer';
  }
}

/**
 * `connection` with `query` and `execute` rejecting with {@link NoAnswer} when the server has not answered
 * within `ms`. MariaDB 10.11 answered some multi-statement messages interrupted between two of their statements
 * (`KILL QUERY`) with nothing more, leaving the transaction open with its locks and the driver waiting for ever
 * (a break-it round: three `putMany` loops of three stuck in each of four runs, other writers of the same ids
 * failing on lock wait timeouts). mysql2's own query `timeout` only rejects: the connection still waits for
 * that answer, and any later statement queues behind it.
 */
function answeredWithin(connection: PoolConnection, ms: number): PoolConnection {
  const bounded = <R>(answer: Promise<R>): Promise<R> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NoAnswer(ms)), ms);
    });
    return Promise.race([answer, late]).finally(() => clearTimeout(timer));
  };
  const wrapped = Object.create(connection) as PoolConnection;
  wrapped.query = ((...args: Parameters<PoolConnection['query']>) =>
    bounded(connection.query(...args))) as PoolConnection['query'];
  wrapped.execute = ((...args: Parameters<PoolConnection['execute']>) =>
    bounded(connection.execute(...args))) as PoolConnection['execute'];
  return wrapped;
}

/** Pool connections (the driver's own objects, reused by the pool) whose session settings are applied. */
const configured = new WeakSet<object>();

/** Rows per write message. */
export const WRITE_CHUNK = 500;

/** Characters mysql2 escapes with a backslash in a string literal (each one byte more). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL and Ctrl-Z are among the escaped characters
const ESCAPED = /[\0\b\t\n\r\x1a"'\\]/g;

/** Bytes mysql2 sends for `value` inlined in a statement, at most. */
export function inlinedBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value) + (value.match(ESCAPED)?.length ?? 0) + 2;
  if (Buffer.isBuffer(value)) return 2 * value.length + 3; // X'…'
  return 24; // a number, NULL, a boolean
}

/**
 * Bytes of the statements around one record row in a write message (the batch write's or sync-2pc commit's:
 * BEGIN, the version draw, the record and outbox upserts, COMMIT), at most: they compile to about 1,780
 * characters with the prefix `dw_` and about 2,600 with a 40-character one (the longest allowed); the test
 * `write-message-size` holds this above both messages for that prefix.
 */
export const MESSAGE_OVERHEAD = 4_096;

/**
 * Bytes a record row (its `recordValues`) takes in a write message, at most: every value inlined as mysql2
 * escapes it, the id three times more (the no-op check, the outbox row, the outcome), and the statements
 * around it ({@link MESSAGE_OVERHEAD}).
 */
export function writeMessageBytes(values: readonly unknown[]): number {
  return (
    MESSAGE_OVERHEAD +
    values.reduce<number>((sum, value) => sum + inlinedBytes(value), 0) +
    3 * inlinedBytes(values[0])
  );
}

/**
 * An upper bound of {@link writeMessageBytes} for a put, without encoding the record: a UTF-16 code unit is at
 * most 3 UTF-8 bytes (an escaped character 2), a float32 component 8 hex digits. Cheap enough for every put;
 * the exact count is needed only when this bound does not fit.
 */
export function writeMessageBound(
  record: Pick<ValidRecord, 'id' | 'text' | 'metadata'> & {
    embedding?: readonly number[] | null;
  },
): number {
  const text = (s: string) => 3 * s.length + 2;
  return (
    MESSAGE_OVERHEAD +
    4 * text(record.id) +
    text(record.text) +
    text(JSON.stringify(record.metadata)) +
    (record.embedding == null ? 0 : 8 * record.embedding.length + 3) +
    7 * 24
  );
}

/** `statements` compiled and joined into one multi-statement message. */
export function message(kysely: MysqlKysely, statements: readonly RawBuilder<unknown>[]) {
  const compiled = statements.map((s) => s.compile(kysely));
  return { sql: compiled.map((c) => c.sql).join(';\n'), values: compiled.flatMap((c) => [...c.parameters]) };
}

/** The results of a message's statements, one entry per statement. */
export type Results = (RowDataPacket[] | ResultSetHeader)[];

/**
 * Bytes an id takes in a message that reads, prepares or commits by id, at most: inlined in three statements,
 * and its token.
 */
export function idBytes(id: string): number {
  return 3 * inlinedBytes(id) + 128;
}

/**
 * Sends `parts` as one transaction: BEGIN and the locks of `ids` with the first message, `statements(part)`
 * in each, COMMIT with the last when `commit`; resolves to each part's results (the BEGIN, the locks and the
 * COMMIT left out). The caller sizes the parts to fit the message budget.
 */
export async function sendLocked<P>(
  connection: PoolConnection,
  context: MysqlBatchWriteContext,
  ids: readonly string[],
  locking: RecordLocking,
  parts: readonly P[],
  statements: (part: P) => RawBuilder<unknown>[],
  commit: boolean,
): Promise<Results[]> {
  const out: Results[] = [];
  for (const [c, part] of parts.entries()) {
    const head = c === 0 ? context.q.beginLocked(ids, locking) : [];
    const body = statements(part);
    const tail = commit && c === parts.length - 1 ? [sql`COMMIT`] : [];
    const sent = message(context.kysely, [...head, ...body, ...tail]);
    const [results] = (await connection.query(sent.sql, sent.values)) as unknown as [Results];
    // mysql2 answers a message of one statement with that statement's result, not a list of one.
    const all =
      head.length + body.length + tail.length === 1 ? [results as unknown as Results[number]] : results;
    out.push(all.slice(head.length, all.length - tail.length));
  }
  return out;
}

/**
 * BEGIN and the slot locks of `ids` (see {@link sendLocked}), then `read(chunk)` for chunks of at most
 * WRITE_CHUNK ids and `messageBudget` bytes (5,000 ids of 250 bytes in one statement were past a 1 MiB
 * `max_allowed_packet`), one message each; resolves to the rows of every read, the transaction left open.
 */
export async function readLocked<R>(
  connection: PoolConnection,
  context: MysqlBatchWriteContext,
  ids: readonly string[],
  locking: RecordLocking,
  read: (chunk: string[]) => RawBuilder<unknown>[],
): Promise<R[]> {
  const chunks = chunksBySize([...ids], WRITE_CHUNK, context.messageBudget, idBytes);
  const results = await sendLocked(connection, context, ids, locking, chunks, read, false);
  return results.flatMap((part) => part.flatMap((rows) => rows as unknown as R[]));
}

/**
 * Runs `fn` on a pool connection of its own (the store's session settings applied once per connection) for a
 * transaction `fn` sends as multi-statement messages; on an error rolls it back and maps the error, or, when
 * `fn` only tried its locks (`locking` `'try'`) and one was held elsewhere, throws `RecordsBusy`. A
 * connection whose ROLLBACK failed is destroyed, not returned to the pool; so is one whose server left a
 * message unanswered for `answerWithinMs` (closing it rolls its transaction back and frees its locks): that
 * write fails with a `TransientBackendError`.
 */
export async function onWriteConnection<T>(
  context: MysqlBatchWriteContext,
  operation: string,
  locking: RecordLocking,
  fn: (connection: PoolConnection) => Promise<T>,
): Promise<T> {
  const connection = await context.pool
    .promise()
    .getConnection()
    .catch((error: unknown) => {
      throw mapMysqlError(error, `${operation}: connect`);
    });
  let broken = false;
  try {
    // A connection Kysely never took has none of the store's session settings yet.
    const raw = (connection as unknown as { connection: object }).connection;
    if (!configured.has(raw)) {
      await connection.query(context.sessionSettings.join(';\n'));
      configured.add(raw);
    }
    return await fn(answeredWithin(connection, context.answerWithinMs));
  } catch (error) {
    if (error instanceof NoAnswer) {
      broken = true;
      throw new TransientBackendError(
        `${operation} failed, try again: the server did not answer within ${error.ms} ms (a statement ` +
          'interrupted by KILL QUERY or max_statement_time can leave a message unanswered); the connection was ' +
          'closed, which rolls back its transaction unless its COMMIT had already run',
        { component: MYSQL_COMPONENT, cause: error },
      );
    }
    await connection.query('ROLLBACK').catch(() => {
      broken = true;
    });
    if (locking === 'try' && isLockRefusal(error) && !broken) throw new RecordsBusy();
    throw mapMysqlError(error, operation);
  } finally {
    if (broken) connection.destroy();
    else connection.release();
  }
}

/**
 * `RelationalStore.writeChanges` on MySQL / MariaDB in two round trips for up to 500 rows (one more per 500
 * after that; the transaction path takes six for one put), each a multi-statement message:
 *
 * 1. BEGIN, the ids' slot locks (the transaction path's locks, in slot order; tried without waiting with
 *    `locking` `'try'`), then their rows (a statement that starts once the locks are granted, so under READ
 *    COMMITTED it sees every committed write of them; one more message per 500 ids or `messageBudget`);
 * 2. core's `planWrites` decides in memory (the rules of `planOne`); then a version per written row, the
 *    record and outbox upserts (the shared upserts of `@dualwrite/sql`), the versions, and COMMIT.
 *
 * Each id at most once in `changes`, `ids` their ids (the caller sends other batches the transaction path). On an
 * error the transaction is rolled back (see {@link onWriteConnection}).
 */
export async function writeChangesInTwoRoundTrips(
  context: MysqlBatchWriteContext,
  changes: readonly Change[],
  ids: readonly string[],
  now: number,
  locking: RecordLocking,
): Promise<WriteResult[]> {
  const { kysely, q } = context;
  return onWriteConnection(context, 'writeChanges', locking, async (connection) => {
    const read = await readLocked<RecordRow>(connection, context, ids, locking, (chunk) => [
      q.rowsOfLocked(chunk),
    ]);
    const current = new Map<string, StoredRecord>(read.map((row) => [row.id, toStoredRecord(row)]));
    const plan = planWrites(changes, current, now);
    if (plan.rows.length === 0) {
      await connection.query('COMMIT');
      return plan.results([]);
    }
    // At most WRITE_CHUNK rows and `messageBudget` bytes per message: a message over the server's
    // `max_allowed_packet` is refused by dropping the connection (17 records of 1 MiB text did that).
    const rows = plan.rows.map(({ next, op }) => ({ values: q.recordValues({ ...next, version: 0 }), op }));
    const versions: number[] = [];
    const messages = chunksBySize(rows, WRITE_CHUNK, context.messageBudget, (row) =>
      writeMessageBytes(row.values),
    );
    for (const [c, chunk] of messages.entries()) {
      const last = c === messages.length - 1;
      const write = message(kysely, q.batchWrite(chunk, now, last));
      const [results] = await connection.query<RowDataPacket[][]>(write.sql, write.values);
      const drawn = results[results.length - (last ? 2 : 1)]![0] as Record<string, SqlInt>;
      versions.push(...chunk.map((_, i) => int(drawn[`v${i}`]!)));
    }
    return plan.results(versions);
  });
}
