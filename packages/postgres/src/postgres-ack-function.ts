import type { AckOutcome, OutboxAck } from '@dualwrite/core';
import { type Migration, type RawBuilder, sql } from 'kysely';
import type { PostgresQueries } from './postgres-queries.js';
import type { PostgresTableNames } from './postgres-relational-store-options.js';
import { bodySql, FUNCTION_SETTINGS, IDS_BUSY, lockedBody } from './postgres-write-function.js';

/**
 * The migration that installs `<schema>.<prefix>ack_deliveries`, the PL/pgSQL function behind
 * `PostgresRelationalStore.ackOutbox` for acks of distinct ids (the drainers' case): one call — one statement,
 * one round trip in autocommit — where the transaction path takes seven (BEGIN, the locks, the entries, the
 * synced versions, the deletes, COMMIT). It applies core's ledger rule (`ackDelivery`) set-based, as the
 * shared store's fast path does:
 *
 * 1. tries the ids' advisory locks and raises {@link IDS_BUSY} when another transaction holds one (the store
 *    then takes the shared path, which backs off and retries, so a drainer never holds one id while waiting for
 *    another that an application transaction took first); then locks their outbox rows (`FOR UPDATE`: a claim
 *    cannot re-lease them meanwhile);
 * 2. decides each ack: the token no longer on the entry (or no entry) → `lease-lost`; the entry's version
 *    newer than the applied one, or something enqueued under the lease (`lease_version` below `version`,
 *    core's `overtaken`) → `superseded`; otherwise `acked`;
 * 3. raises `synced_version` to the applied version for `acked` and `superseded`; clears the leases of
 *    `superseded` (claimable by `p_now`); deletes the entries of `acked` and purges their tombstones at the
 *    applied version or older unless a sync-2pc intent for the id exists;
 * 4. enqueues a repair of each `lease-lost` id's current state (its version and `upsert`, or `delete` for a
 *    tombstone; for a missing row, `delete` at the sequence's current value), and `pg_notify`s once when it
 *    did (`p_notify`);
 *
 * and returns `(out_n, out_outcome)` per ack. Like the other store functions it refuses to run without READ
 * COMMITTED ({@link NOT_READ_COMMITTED} of the write function), uses generic plans on index lookups
 * (`enable_seqscan = off`, see `FUNCTION_SETTINGS`) and a fixed `search_path`. The relational suite's
 * checks of `ackOutbox` (and its random histories against the in-memory model) run through it.
 */
export function ackFunctionMigration(tables: PostgresTableNames, q: PostgresQueries): Migration {
  const records = sql.id(tables.schema, tables.records);
  const outbox = sql.id(tables.schema, tables.outbox);
  const intents = sql.id(tables.schema, tables.intents);
  const sequence = sql.id(tables.schema, tables.versionSequence);
  return {
    async up(db) {
      const statements = bodySql(
        db,
        'ack_deliveries',
        sql`
        PERFORM 1 FROM ${outbox} WHERE record_id = ANY (p_ids) FOR UPDATE;
        SELECT array_agg(CASE WHEN x.lease_token IS NULL OR x.lease_token <> a.token THEN 'lease-lost'
            WHEN x.version > a.applied OR x.lease_version < x.version THEN 'superseded' ELSE 'acked' END ORDER BY a.n)
          INTO v_outcomes
          FROM unnest(p_ids, p_tokens, p_applied) WITH ORDINALITY AS a(id, token, applied, n)
          LEFT JOIN ${outbox} AS x ON x.record_id = a.id;
        UPDATE ${records} AS r SET synced_version = a.applied
          FROM unnest(p_ids, p_applied) WITH ORDINALITY AS a(id, applied, n)
          WHERE r.id = a.id AND v_outcomes[a.n] <> 'lease-lost'
            AND (r.synced_version IS NULL OR r.synced_version < a.applied);
        UPDATE ${outbox} AS x SET next_attempt_at = least(x.next_attempt_at, p_now),
            lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL
          FROM unnest(p_ids) WITH ORDINALITY AS a(id, n)
          WHERE x.record_id = a.id AND v_outcomes[a.n] = 'superseded';
        DELETE FROM ${outbox} AS x USING unnest(p_ids) WITH ORDINALITY AS a(id, n)
          WHERE x.record_id = a.id AND v_outcomes[a.n] = 'acked';
        DELETE FROM ${records} AS r USING unnest(p_ids, p_applied) WITH ORDINALITY AS a(id, applied, n)
          WHERE r.id = a.id AND v_outcomes[a.n] = 'acked' AND r.deleted AND r.version <= a.applied
            AND NOT EXISTS (SELECT 1 FROM ${intents} AS it WHERE it.record_id = a.id);
        IF 'lease-lost' = ANY (v_outcomes) THEN
          FOR k IN 1 .. array_length(p_ids, 1) LOOP
            CONTINUE WHEN v_outcomes[k] <> 'lease-lost';
            SELECT r.version, r.deleted INTO v_version, v_deleted FROM ${records} AS r WHERE r.id = p_ids[k];
            IF NOT FOUND THEN
              SELECT CASE WHEN is_called THEN last_value ELSE 0 END, true INTO v_version, v_deleted FROM ${sequence};
            END IF;
            ${q.outboxUpsert(
              sql`VALUES ${q.pendingOutboxRow(
                sql.raw('p_ids[k]'),
                sql.raw('v_version'),
                sql.raw(`CASE WHEN v_deleted THEN 'delete' ELSE 'upsert' END`),
                sql.raw('p_now'),
              )}`,
            )};
          END LOOP;
          IF p_notify THEN PERFORM pg_notify(${sql.lit(tables.notifyChannel)}, ''); END IF;
        END IF;
        RETURN QUERY SELECT o.n::int, o.outcome FROM unnest(v_outcomes) WITH ORDINALITY AS o(outcome, n);`,
      );
      await sql`
        CREATE OR REPLACE FUNCTION ${sql.id(tables.schema, tables.ackFunction)}(
          p_keys int4[], p_ids text[], p_tokens text[], p_applied bigint[], p_now bigint, p_notify boolean)
        RETURNS TABLE (out_n int, out_outcome text)
        LANGUAGE plpgsql VOLATILE
        ${FUNCTION_SETTINGS}
        AS ${sql.lit(`
        DECLARE
          v_outcomes text[]; v_version bigint; v_deleted boolean;
        ${lockedBody(q, 'ack_deliveries', statements, 'try')}`)}`.execute(db);
    },
  };
}

/** A row of `<prefix>ack_deliveries`: the ack's 1-based position and its outcome. */
interface AckRow {
  out_n: number;
  out_outcome: AckOutcome;
}

/** The call of `<prefix>ack_deliveries` for `acks` (distinct ids; locks taken in key order). */
export function ackCall(
  tables: PostgresTableNames,
  q: PostgresQueries,
  acks: readonly OutboxAck[],
  now: number,
  notify: boolean,
): RawBuilder<AckRow> {
  const ids = acks.map((a) => a.recordId);
  return sql<AckRow>`SELECT out_n, out_outcome FROM ${sql.id(tables.schema, tables.ackFunction)}(
    ${q.lockKeys(ids)}::int4[], ${ids}::text[], ${acks.map((a) => a.leaseToken)}::text[],
    ${acks.map((a) => a.appliedVersion)}::bigint[], ${now}::bigint, ${notify})`;
}

/** The outcomes of {@link ackCall}'s rows, in the order of its acks. */
export function ackOutcomes(rows: readonly AckRow[]): AckOutcome[] {
  return [...rows].sort((a, b) => a.out_n - b.out_n).map((row) => row.out_outcome);
}
