import { createHash } from 'node:crypto';
import {
  type Change,
  planWrites,
  type StoredRecord,
  ValidationError,
  type WriteResult,
} from '@dualwrite/core';
import { embeddingBytes, int, type RecordRow, type SqlInt, toStoredRecord } from '@dualwrite/sql';
import { sql } from 'kysely';
import type pg from 'pg';
import { mapPostgresError, POSTGRES_COMPONENT } from './postgres-errors.js';
import type { PostgresQueries } from './postgres-queries.js';
import type { PostgresKysely, PostgresTableNames } from './postgres-relational-store-options.js';

/** What {@link writeChangesInThreeRoundTrips} needs of its store. */
export interface BatchWriteContext {
  pool: pg.Pool;
  /** The store's Kysely instance (compiles the write statement). */
  kysely: PostgresKysely;
  q: PostgresQueries;
  tables: PostgresTableNames;
  /** `pg_notify` the outbox channel in the write statement. */
  notify: boolean;
}

/** `"schema"."name"` of a validated identifier pair. */
const qualified = (schema: string, name: string) => `"${schema}"."${name}"`;

/**
 * `RelationalStore.writeChanges` on PostgreSQL in three round trips, whatever the batch size (the transaction
 * path takes seven for one put: BEGIN, lock, read, nextval, record, outbox, COMMIT, plus NOTIFY):
 *
 * 1. one simple-protocol message: `BEGIN ISOLATION LEVEL READ COMMITTED`, the ids' advisory locks (the
 *    transaction path's locks, in the same order), and the rows — a separate statement after the locks, so
 *    its READ COMMITTED snapshot sees every committed write of those ids;
 * 2. core's `planWrites` decides in memory (the rules of `planOne`), then one statement draws a version per
 *    written row (`nextval` in row order), upserts the rows — passed as one array per column — into `records`
 *    and `outbox` (the shared upserts of `@dualwrite/sql`) and `pg_notify`s once;
 * 3. `COMMIT`.
 *
 * Each id at most once in `changes`, `ids` their ids (the caller sends other batches the transaction path). A connection
 * whose ROLLBACK or COMMIT failed is destroyed, not returned to the pool.
 * @throws {ValidationError} for a text holding U+0000 (PostgreSQL `text` cannot store it), before anything runs.
 */
export async function writeChangesInThreeRoundTrips(
  context: BatchWriteContext,
  changes: readonly Change[],
  ids: readonly string[],
  now: number,
): Promise<WriteResult[]> {
  for (const change of changes)
    if (change.op === 'put' && change.record.text.includes('\u0000'))
      throw new ValidationError('text', 'must not contain NUL (postgres cannot store U+0000)', {
        component: POSTGRES_COMPONENT,
        limit: 'no U+0000',
      });
  const { pool, q, tables } = context;
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw mapPostgresError(error, 'writeChanges: connect');
  }
  let broken = false;
  try {
    const keys = q.lockKeys(ids);
    const read = (await client.query(
      'BEGIN ISOLATION LEVEL READ COMMITTED; ' +
        `SELECT pg_advisory_xact_lock(${q.lockClass}, k) FROM unnest(ARRAY[${keys.join(',')}]::int4[]) ` +
        'WITH ORDINALITY AS t(k, n) ORDER BY n; ' +
        `SELECT * FROM ${qualified(tables.schema, tables.records)} ` +
        `WHERE id IN (${ids.map((id) => client.escapeLiteral(id)).join(', ')})`,
    )) as unknown as pg.QueryResult<RecordRow>[];
    const current = new Map<string, StoredRecord>(read[2]!.rows.map((row) => [row.id, toStoredRecord(row)]));
    const plan = planWrites(changes, current, now);
    const versions: number[] = [];
    if (plan.rows.length > 0) {
      // One array per column (unnest): the statement is the same for any batch size, and 10,000 rows stay
      // far below PostgreSQL's 65,535 bound parameters.
      const column = <T>(pick: (row: (typeof plan.rows)[number]) => T) => plan.rows.map(pick);
      const embeddings = column(({ next }) =>
        next.embedding === null ? null : embeddingBytes(next.embedding),
      );
      const sequence = qualified(tables.schema, tables.versionSequence);
      const written = sql`
        WITH v AS MATERIALIZED (
          SELECT n, nextval(${sequence}::regclass) AS version
          FROM generate_series(1, ${plan.rows.length}::int) AS n ORDER BY n
        ),
        w (n, id, text, embedding, metadata, deleted, content_hash, synced_version, op) AS (
          SELECT * FROM unnest(
            ${plan.rows.map((_, i) => i + 1)}::int[], ${column(({ next }) => next.id)}::text[],
            ${column(({ next }) => next.text)}::text[], ${embeddings}::bytea[],
            ${column(({ next }) => JSON.stringify(next.metadata))}::json[], ${column(({ next }) => next.deleted)}::boolean[],
            ${column(({ next }) => next.contentHash)}::text[], ${column(({ next }) => next.syncedVersion)}::bigint[],
            ${column(({ op }) => op)}::text[])
        ),
        r AS (
          ${q.recordUpsert(sql`SELECT w.id, w.text, w.embedding, w.metadata, v.version, w.deleted,
            w.content_hash, w.synced_version, ${now}::bigint, ${now}::bigint FROM w JOIN v USING (n)`)}
          RETURNING 1
        ),
        o AS (
          ${q.outboxUpsert(sql`SELECT w.id, v.version, w.op, 'pending', 0, ${now}::bigint, ${now}::bigint,
            NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::bigint FROM w JOIN v USING (n)`)}
          RETURNING 1
        )
        SELECT v.n, v.version FROM v
        ${context.notify ? sql`CROSS JOIN (SELECT pg_notify(${tables.notifyChannel}, '')) AS notified` : sql``}
        ORDER BY v.n`.compile(context.kysely);
      // Named: its text is the same for any batch, so each connection parses and plans it once.
      const { rows } = await client.query<{ n: number; version: SqlInt }>({
        name: `dw_write_${createHash('sha256').update(written.sql).digest('hex').slice(0, 24)}`,
        text: written.sql,
        values: [...written.parameters],
      });
      for (const row of rows) versions[row.n - 1] = int(row.version);
    }
    await client.query('COMMIT').catch((error: unknown) => {
      broken = true;
      throw error;
    });
    return plan.results(versions);
  } catch (error) {
    if (!broken) await client.query('ROLLBACK').catch(() => (broken = true));
    throw mapPostgresError(error, 'writeChanges');
  } finally {
    client.release(broken);
  }
}
