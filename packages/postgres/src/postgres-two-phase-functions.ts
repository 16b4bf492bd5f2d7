import type { Change, IntentCommit, PreparedIntent } from '@dualwrite/core';
import { changeId } from '@dualwrite/core';
import { int, metadataJson, type RecordRow, type SqlInt, toStoredRecord } from '@dualwrite/sql';
import { type Migration, type RawBuilder, sql } from 'kysely';
import {
  type EmbeddingsInput,
  embeddingsIn,
  packedEmbeddingsArguments,
} from './postgres-packed-embeddings.js';
import type { PostgresQueries } from './postgres-queries.js';
import type { PostgresTableNames } from './postgres-relational-store-options.js';
import {
  bodySql,
  type CallLocks,
  callLocksArguments,
  callLocksParameters,
  FUNCTION_SETTINGS,
  lockedBody,
} from './postgres-write-function.js';

/**
 * SQLSTATE `<prefix>sync_commit` raises (its `DETAIL` the record id) for a write whose intent recovery resolved:
 * core's `commitStep` refuses it, and the store throws core's `outlivedIntent` error for it.
 */
export const INTENT_GONE = 'DWIG1';

/**
 * The migration that installs sync-2pc's two transactions as PL/pgSQL functions, so each is one statement and
 * one round trip in autocommit (the transaction path takes seven and nine): `<prefix>sync_prepare` and
 * `<prefix>sync_commit`, with the effects of core's `prepareIntentsInTx` and `commitIntentsInTx` (the commit
 * rule, `commitStep`, written out in PL/pgSQL) — the relational suite runs both side by side and compares every
 * step. Like the write
 * function they take the ids' advisory locks first, in a statement of their own (a READ COMMITTED statement's
 * snapshot starts when the statement does, so the reads after it see every committed write of the ids), refuse
 * to run without READ COMMITTED ({@link NOT_READ_COMMITTED}), use generic plans and a fixed `search_path`
 * (see `writeFunctionMigration`). `embeddings` says how `sync_commit` takes the writes' embeddings (see
 * `EmbeddingsInput`).
 */
export function twoPhaseFunctionsMigration(
  tables: PostgresTableNames,
  q: PostgresQueries,
  locking: 'wait' | 'by-parameter' = 'wait',
  embeddings: EmbeddingsInput = 'array',
): Migration {
  const lockParameters = callLocksParameters(locking);
  const input = embeddingsIn(embeddings);
  const names = {
    records: sql.id(tables.schema, tables.records),
    outbox: sql.id(tables.schema, tables.outbox),
    intents: sql.id(tables.schema, tables.intents),
    sequence: sql.lit(`"${tables.schema}"."${tables.versionSequence}"`),
  };
  return {
    async up(db) {
      const compile = (statement: RawBuilder<unknown>) => bodySql(db, 'sync-2pc functions', statement);
      const prepare = compile(sql`
        WITH w AS MATERIALIZED (
          SELECT t.n, t.id, t.token, nextval(${names.sequence}::regclass) AS version
          FROM unnest(p_ids, p_tokens) WITH ORDINALITY AS t(id, token, n) ORDER BY t.n
        ),
        logged AS (
          INSERT INTO ${names.intents} (token, record_id, version, expires_at)
          SELECT w.token, w.id, w.version, p_expires_at FROM w
        )
        SELECT w.n::int, w.version, EXISTS (SELECT 1 FROM ${names.outbox} AS o WHERE o.record_id = w.id),
          r.id, r.text, r.embedding, r.metadata, r.version, r.deleted, r.content_hash, r.synced_version,
          r.created_at, r.updated_at
        FROM w LEFT JOIN ${names.records} AS r ON r.id = w.id ORDER BY w.n`);
      const enqueue = (version: string, op: string) =>
        compile(
          q.outboxUpsert(
            sql`VALUES ${q.pendingOutboxRow(sql.raw('p_ids[i]'), sql.raw(version), sql.raw(op), sql.raw('p_now'))}`,
          ),
        );
      const writeRecord = compile(
        q.recordUpsert(sql`VALUES (p_ids[i], p_texts[i], ${sql.raw(input.array)}[i], p_metadata[i]::json, p_versions[i],
          p_deleted[i], p_hashes[i], CASE WHEN v_synced_now THEN p_versions[i] ELSE v_synced END, p_now, p_now)`),
      );
      await sql`
        CREATE OR REPLACE FUNCTION ${sql.id(tables.schema, tables.prepareFunction)}(
          p_keys int4[], p_ids text[], p_tokens text[], p_expires_at bigint ${lockParameters})
        RETURNS TABLE (out_n int, out_version bigint, out_contended boolean, r_id text, r_text text,
          r_embedding bytea, r_metadata json, r_version bigint, r_deleted boolean, r_content_hash text,
          r_synced_version bigint, r_created_at bigint, r_updated_at bigint)
        LANGUAGE plpgsql VOLATILE
        ${FUNCTION_SETTINGS}
        AS ${sql.lit(lockedBody(q, 'sync_prepare', `RETURN QUERY ${prepare};`, locking))}`.execute(db);
      await sql`
        CREATE OR REPLACE FUNCTION ${sql.id(tables.schema, tables.commitFunction)}(
          p_keys int4[], p_drop text[], p_tokens text[], p_ids text[], p_previous bigint[], p_contended boolean[],
          p_ops text[], p_versions bigint[], p_deleted boolean[], p_texts text[], ${sql.raw(input.parameters)},
          p_metadata text[], p_hashes text[], p_deferred boolean, p_now bigint, p_notify boolean
          ${lockParameters})
        RETURNS int
        LANGUAGE plpgsql VOLATILE
        ${FUNCTION_SETTINGS}
        AS ${sql.lit(`
        DECLARE
          v_found boolean; v_version bigint; v_deleted boolean; v_synced bigint;
          v_synced_now boolean; v_enqueued int := 0; ${input.declare}
        ${lockedBody(
          q,
          'sync_commit',
          `
          ${input.unpack}
          DELETE FROM ${compile(names.intents)} WHERE token = ANY (p_drop);
          FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
            DELETE FROM ${compile(names.intents)} WHERE token = p_tokens[i];
            IF NOT FOUND THEN
              RAISE EXCEPTION 'dualwrite sync_commit: the intent of % is gone', p_ids[i]
                USING ERRCODE = '${INTENT_GONE}', DETAIL = p_ids[i];
            END IF;
            SELECT r.version, r.deleted, r.synced_version INTO v_version, v_deleted, v_synced
              FROM ${compile(names.records)} AS r WHERE r.id = p_ids[i];
            v_found := FOUND;
            IF v_found AND v_version > p_versions[i] THEN
              ${enqueue('v_version', "CASE WHEN v_deleted THEN 'delete' ELSE 'upsert' END")};
              v_enqueued := v_enqueued + 1;
              CONTINUE;
            END IF;
            v_synced_now := NOT p_deferred AND NOT (p_contended[i]
              OR (CASE WHEN v_found THEN v_version END) IS DISTINCT FROM p_previous[i]
              OR EXISTS (SELECT 1 FROM ${compile(names.outbox)} AS o WHERE o.record_id = p_ids[i])
              OR EXISTS (SELECT 1 FROM ${compile(names.intents)} AS x WHERE x.record_id = p_ids[i]));
            ${writeRecord};
            IF NOT v_synced_now THEN
              ${enqueue('p_versions[i]', 'p_ops[i]')};
              v_enqueued := v_enqueued + 1;
            END IF;
          END LOOP;
          IF v_enqueued > 0 AND p_notify THEN
            PERFORM pg_notify(${sql.lit(tables.notifyChannel).compile(db).sql}, '');
          END IF;
          RETURN v_enqueued;`,
          locking,
        )}`)}`.execute(db);
    },
  };
}

/** A row of `<prefix>sync_prepare`: the change's 1-based position, its version, contention, the row read. */
interface PrepareRow {
  out_n: number;
  out_version: SqlInt;
  out_contended: boolean;
  r_id: string | null;
  r_text: string;
  r_embedding: Uint8Array | null;
  r_metadata: RecordRow['metadata'];
  r_version: SqlInt;
  r_deleted: boolean;
  r_content_hash: string;
  r_synced_version: SqlInt | null;
  r_created_at: SqlInt;
  r_updated_at: SqlInt;
}

/**
 * The call of `<prefix>sync_prepare` for `changes` (distinct ids; versions drawn in this order, locks taken in key
 * order, or only tried: `locks`).
 */
export function prepareCall(
  tables: PostgresTableNames,
  q: PostgresQueries,
  changes: readonly Change[],
  tokens: readonly string[],
  expiresAt: number,
  locks: CallLocks,
): RawBuilder<PrepareRow> {
  const ids = changes.map(changeId);
  return sql<PrepareRow>`SELECT * FROM ${sql.id(tables.schema, tables.prepareFunction)}(
    ${q.lockKeys(ids)}::int4[], ${ids}::text[], ${tokens}::text[], ${expiresAt}::bigint${callLocksArguments(locks)})`;
}

/** {@link PreparedIntent}s from the rows of {@link prepareCall}, in the order of its changes. */
export function preparedIntents(rows: readonly PrepareRow[]): PreparedIntent[] {
  return [...rows]
    .sort((a, b) => a.out_n - b.out_n)
    .map((row) => ({
      version: int(row.out_version),
      contended: row.out_contended,
      previous:
        row.r_id === null
          ? undefined
          : toStoredRecord({
              id: row.r_id,
              text: row.r_text,
              embedding: row.r_embedding,
              metadata: row.r_metadata,
              version: row.r_version,
              deleted: row.r_deleted,
              content_hash: row.r_content_hash,
              synced_version: row.r_synced_version,
              created_at: row.r_created_at,
              updated_at: row.r_updated_at,
            }),
    }));
}

/**
 * The call of `<prefix>sync_commit` for `writes` (distinct ids; locks taken in key order, or only tried); its
 * row's `enqueued` counts the writes it enqueued. It calls the `'packed'` variant (migration
 * `0011_packed_embeddings`): the embeddings travel as one binary parameter.
 */
export function commitCall(
  tables: PostgresTableNames,
  q: PostgresQueries,
  writes: readonly IntentCommit[],
  options: { now: number; deferred: boolean; dropTokens: readonly string[]; notify: boolean },
  locks: CallLocks,
): RawBuilder<{ enqueued: number }> {
  const next = writes.map((w) => w.next);
  return sql<{ enqueued: number }>`SELECT ${sql.id(tables.schema, tables.commitFunction)}(
    ${q.lockKeys(next.map((r) => r.id))}::int4[], ${options.dropTokens}::text[],
    ${writes.map((w) => w.token)}::text[], ${next.map((r) => r.id)}::text[],
    ${writes.map((w) => w.previousVersion)}::bigint[], ${writes.map((w) => w.contended)}::boolean[],
    ${writes.map((w) => w.op)}::text[], ${next.map((r) => r.version)}::bigint[],
    ${next.map((r) => r.deleted)}::boolean[], ${next.map((r) => r.text)}::text[],
    ${packedEmbeddingsArguments(next.map((r) => r.embedding))},
    ${next.map((r) => metadataJson(r.metadata))}::text[], ${next.map((r) => r.contentHash)}::text[],
    ${options.deferred}, ${options.now}::bigint, ${options.notify}${callLocksArguments(locks)}) AS enqueued`;
}
