/**
 * A single put or delete on MySQL / MariaDB as one `CALL` of a stored procedure the store installs
 * ({@link MysqlQueries.writeProcedure}).
 * @internal
 */
import { type Change, planOne, type WriteResult } from '@dualwrite/core';
import { int, type SqlInt } from '@dualwrite/sql';
import { sql } from 'kysely';
import type { RowDataPacket } from 'mysql2';
import { type MysqlBatchWriteContext, onWriteConnection } from './mysql-batch-write.js';
import type { MysqlQueries } from './mysql-queries.js';
import type { MysqlKysely } from './mysql-relational-store-options.js';

/** Errors of a `CALL` refused before the procedure ran: it is gone, or the user may not execute it. */
const UNCALLABLE = new Set(['ER_SP_DOES_NOT_EXIST', 'ER_PROCACCESS_DENIED_ERROR']);

/**
 * Creates this release's write procedure unless the database has it (several processes may start at once: a
 * create that finds it made meanwhile is fine).
 * @returns its name; `undefined` when the user may not create routines (`CREATE ROUTINE` privilege): single
 *   writes then take the batch path's two round trips.
 * @throws the server's error otherwise.
 */
export async function installWriteProcedure(db: MysqlKysely, q: MysqlQueries): Promise<string | undefined> {
  const { name, create } = q.writeProcedure(db);
  const { rows } = await sql`SELECT 1 AS found FROM information_schema.ROUTINES
    WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = ${name} AND ROUTINE_TYPE = 'PROCEDURE'`.execute(db);
  if (rows.length > 0) return name;
  try {
    await sql.raw(create).execute(db);
    return name;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ER_SP_ALREADY_EXISTS') return name;
    if (typeof code === 'string' && code.includes('ACCESS_DENIED')) return undefined;
    throw error;
  }
}

/**
 * `RelationalStore.writeChanges` of one change in one round trip: a `CALL` of `procedure` with the change's
 * record row (a tombstone for a delete), sent as a prepared statement (the embedding as bytes), waiting for the
 * id's lock (one id: `withRecordLocks` never only tries it). Same lock, rules and result as the transaction
 * path, which takes six round trips. On an error the transaction the procedure opened is rolled back (see
 * {@link onWriteConnection}).
 * @returns `undefined` when the procedure cannot be called (dropped, or no `EXECUTE` privilege): nothing ran.
 */
export function callWriteProcedure(
  context: MysqlBatchWriteContext,
  procedure: string,
  change: Change,
  now: number,
): Promise<WriteResult | undefined> {
  const { q } = context;
  const values = writeValues(q, change, now);
  const [id, text, embedding, metadata, , deleted, contentHash, syncedVersion] = values;
  const comparesEmbedding = change.op === 'put' && embedding !== null;
  return onWriteConnection(context, 'writeChanges', 'wait', async (connection) => {
    let results: RowDataPacket[][];
    try {
      [results] = await connection.execute<RowDataPacket[][]>(
        `CALL \`${procedure}\`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          q.slot(id as string),
          id,
          text,
          embedding,
          metadata,
          deleted,
          contentHash,
          syncedVersion,
          now,
          comparesEmbedding ? 1 : 0,
        ] as (string | number | Buffer | null)[],
      );
    } catch (error) {
      if (UNCALLABLE.has((error as { code?: unknown }).code as string)) return undefined;
      throw error;
    }
    const { w, d, l } = results[0]![0] as Record<string, SqlInt | null>;
    const recordId = id as string;
    if (int(w!) === 1) return { id: recordId, version: int(d!), changed: true };
    return { id: recordId, version: l === null || l === undefined ? null : int(l), changed: false };
  });
}

/** The record row `change` writes unless it is a no-op (core's `planOne` over no record; a tombstone for a delete). */
function writeValues(q: MysqlQueries, change: Change, now: number): unknown[] {
  if (change.op === 'put') return q.recordValues({ ...planOne(change, undefined, now).next!, version: 0 });
  const tombstone = { text: '', embedding: null, metadata: {}, deleted: true, contentHash: '' };
  return q.recordValues({ id: change.id, ...tombstone, version: 0, syncedVersion: null, now });
}
