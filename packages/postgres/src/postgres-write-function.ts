import { type Change, changeId, contentHash, toFloat32Precision, type WriteResult } from '@dualwrite/core';
import { int, metadataJson, type RecordLocking, type SqlInt } from '@dualwrite/sql';
import { type Kysely, type Migration, type RawBuilder, sql } from 'kysely';
import {
  type EmbeddingsInput,
  embeddingsIn,
  packedEmbeddingsArguments,
} from './postgres-packed-embeddings.js';
import type { PostgresQueries } from './postgres-queries.js';
import type { PostgresTableNames } from './postgres-relational-store-options.js';

/**
 * SQLSTATE the write function raises when its transaction is not READ COMMITTED (a server or role whose
 * `default_transaction_isolation` is higher): the caller then runs it inside `BEGIN ISOLATION LEVEL READ
 * COMMITTED` instead.
 */
export const NOT_READ_COMMITTED = 'DWRC1';

/**
 * The settings every store function runs with: generic plans (see {@link writeFunctionMigration}), a fixed
 * `search_path`, and `enable_seqscan = off`, so their statements find rows by key whatever the tables held
 * when a session planned them.
 *
 * Why the last: PL/pgSQL keeps a session's generic plan for the session's life. A plan made while `records`
 * was new and never analysed (the planner then assumes 10 pages) joined the changes to `records` with a hash
 * join over a sequential scan, and every later call on that connection scanned the whole table: on a fresh
 * schema the statement read all 1,000 / 3,000 rows for a one-id put, and a put took 1.8–4.5 ms on the pool's
 * first connection against 0.7 ms on a connection that planned later. An `ANALYZE` replans (autovacuum's, a
 * minute or so in), but nothing bounds what a connection does before it. Every lookup in these statements is
 * by key, so an index scan is never the wrong plan.
 */
export const FUNCTION_SETTINGS = sql.raw(
  'SET plan_cache_mode = force_generic_plan SET search_path = pg_catalog, pg_temp SET enable_seqscan = off',
);

/**
 * SQLSTATE a store function that only tries its locks (`lockedBody(..., 'try')`) raises when another
 * transaction holds one of the ids: nothing was done, and the caller takes a path that backs off instead.
 */
export const IDS_BUSY = 'DWLK1';

/**
 * The SQL of `statement` for a store function's body, compiled by `db`'s dialect.
 * @throws {Error} when it binds parameters (a function body cannot; every value must be a function parameter
 *   or inlined).
 */
export function bodySql(db: Kysely<unknown>, name: string, statement: RawBuilder<unknown>): string {
  const compiled = statement.compile(db);
  if (compiled.parameters.length > 0) throw new Error(`${name}: a function body must not bind parameters`);
  return compiled.sql;
}

/**
 * How a store function takes its ids' locks: it waits for them, only tries them, or does what its last two
 * parameters say (the variants `0008_call_locks` installs, see {@link callLocksParameters}).
 */
export type FunctionLocking = 'wait' | 'try' | 'by-parameter';

/**
 * The parameters a store function ends with, after its own: none for `'wait'`; for `'by-parameter'`,
 * `p_try_locks` (only try the ids' locks) and `p_lock_timeout_ms` (the call's `lock_timeout`, set for its own
 * transaction: a session-level `SET` does not follow a client through a pooler in transaction mode, and leaks
 * to the pooler's other clients).
 */
export function callLocksParameters(locking: 'wait' | 'by-parameter'): RawBuilder<unknown> {
  return locking === 'wait' ? sql`` : sql.raw(', p_try_locks boolean, p_lock_timeout_ms integer');
}

/** How a call of a `'by-parameter'` store function takes its locks (see {@link callLocksParameters}). */
export interface CallLocks {
  locking: RecordLocking;
  /** The call's `lock_timeout`, ms (`0`: wait forever). */
  timeoutMs: number;
}

/** The values of {@link callLocksParameters} for `locks`, to end a call's argument list. */
export function callLocksArguments(locks: CallLocks): RawBuilder<unknown> {
  return sql`, ${locks.locking === 'try'}, ${locks.timeoutMs}::int4`;
}

/**
 * The body of a store function that writes under the ids' advisory locks (`p_keys`, in array order, in a
 * statement of their own so the statements after it see every committed write of the ids): it refuses to run
 * without READ COMMITTED's fresh snapshots ({@link NOT_READ_COMMITTED}), takes the locks, then runs
 * `statements`. With `locking: 'try'` (or `'by-parameter'` and `p_try_locks` true) it does not wait for a lock
 * another transaction holds but raises {@link IDS_BUSY}: a call that holds one id must never wait for another
 * that an application transaction took first, in whatever order.
 */
export function lockedBody(
  q: PostgresQueries,
  name: string,
  statements: string,
  locking: FunctionLocking = 'wait',
): string {
  const wait = `PERFORM pg_advisory_xact_lock(${q.lockClass}, k) FROM unnest(p_keys) WITH ORDINALITY AS t(k, i) ORDER BY i;`;
  const tryLocks = `IF NOT (SELECT bool_and(pg_try_advisory_xact_lock(${q.lockClass}, k)) FROM unnest(p_keys) AS t(k)) THEN
        RAISE EXCEPTION 'dualwrite ${name}: another transaction holds one of the ids' USING ERRCODE = '${IDS_BUSY}';
      END IF;`;
  const lock =
    locking === 'wait'
      ? wait
      : locking === 'try'
        ? tryLocks
        : `PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true);
      IF p_try_locks THEN ${tryLocks} ELSE ${wait} END IF;`;
  return `
    BEGIN
      IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'dualwrite ${name} needs READ COMMITTED' USING ERRCODE = '${NOT_READ_COMMITTED}';
      END IF;
      ${lock}
      ${statements}
    END`;
}

/**
 * The migration that installs `<schema>.<prefix>write_changes`, the PL/pgSQL function behind
 * `PostgresRelationalStore.writeChanges`: one call — one statement, one round trip in autocommit — writes a
 * batch of changes to distinct ids with the transaction path's locks and rules:
 *
 * 1. takes the ids' advisory locks (`pg_advisory_xact_lock(<lockClass>, key)`, keys in the order given — the
 *    transaction path's order), in a statement of its own;
 * 2. then one statement, whose READ COMMITTED snapshot starts after the locks (PostgreSQL docs, "Function
 *    Volatility Categories": a VOLATILE function obtains a fresh snapshot at the start of each query it
 *    executes), so it sees every committed write of those ids: reads the current rows, decides each change by
 *    core's `planOne` rules (a delete of an absent id or a tombstone, or a put equal in text, metadata and
 *    embedding to the live row, is a no-op; a put without an embedding keeps the stored one when the text is
 *    unchanged, its content hash still the client's, over the embedding the caller gave), draws a version per written
 *    row (`nextval` in the order given), upserts `records` and `outbox` (the shared upserts of `@dualwrite/sql`),
 *    `pg_notify`s once when it wrote (`p_notify`), and returns `(out_n, out_version, out_changed)` per change:
 *    the version written, or the live one (null when none) for a no-op.
 *
 * Values compare as core does: metadata by its JSON text (keys sorted, `metadataJson` of `@dualwrite/sql`, as
 * every write stores it), or else key by key as JSON values (`<prefix>metadata_equal`) for rows stored in
 * another key order or spelling; embeddings by their float32 bytes, or else component by component with `-0`
 * equal to `0` (`<prefix>embedding_equal`). The function refuses to run without READ COMMITTED's fresh
 * snapshots ({@link NOT_READ_COMMITTED}). It runs with `plan_cache_mode = force_generic_plan`: PL/pgSQL
 * otherwise keeps re-planning the statement for every call (its generic plan, estimated over 100-element
 * arrays, never looks cheaper than a custom one), which tripled its time (`pgbench -M prepared`, one put:
 * 0.48 ms → 0.16 ms with `synchronous_commit = off`). All three functions run with `search_path = pg_catalog,
 * pg_temp` (their tables are schema-qualified), so a function or operator named like a built-in in a schema on
 * the caller's path cannot stand in for it (PostgreSQL docs, CREATE FUNCTION, "Writing SECURITY DEFINER
 * Functions Safely"). `embeddings` says how the function takes the changes' embeddings ({@link EmbeddingsInput});
 * the `'array'` variant keeps `p_hash_prefixes`, unused since `0007_hash_given_embedding`, so the signature older
 * processes call stays.
 */
export function writeFunctionMigration(
  tables: PostgresTableNames,
  q: PostgresQueries,
  locking: 'wait' | 'by-parameter' = 'wait',
  embeddings: EmbeddingsInput = 'array',
): Migration {
  const input = embeddingsIn(embeddings);
  return {
    async up(db) {
      const body = bodySql(db, 'write_changes', writeStatement(tables));
      // Float32 bytes that differ only in the sign of a zero are equal values (core compares with ===).
      await sql`
        CREATE OR REPLACE FUNCTION ${sql.id(tables.schema, tables.embeddingEqualFunction)}(a bytea, b bytea)
        RETURNS boolean LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS ${sql.lit(`
        BEGIN
          IF length(a) <> length(b) THEN RETURN false; END IF;
          FOR i IN 0 .. length(a) / 4 - 1 LOOP
            IF substring(a FROM i * 4 + 1 FOR 4) <> substring(b FROM i * 4 + 1 FOR 4) AND NOT (
              substring(a FROM i * 4 + 1 FOR 3) = '\\x000000'::bytea AND get_byte(a, i * 4 + 3) IN (0, 128)
              AND substring(b FROM i * 4 + 1 FOR 3) = '\\x000000'::bytea AND get_byte(b, i * 4 + 3) IN (0, 128))
            THEN RETURN false; END IF;
          END LOOP;
          RETURN true;
        END`)}`.execute(db);
      // Its own function, so its plan is only set up when the metadata texts differ (rows written before
      // metadata was stored with sorted keys, or by another tool). Values compare as JSON values (`1.0` = `1`,
      // `"\u00e9"` = `"é"`), as core compares the parsed numbers and strings. A key or value escaping U+0000
      // cannot be read (json_each and jsonb fail), nor can metadata that is not an object: such a row counts
      // as changed and is written once more, never failing the batch.
      await sql`
        CREATE OR REPLACE FUNCTION ${sql.id(tables.schema, tables.metadataEqualFunction)}(a json, b json)
        RETURNS boolean LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS ${sql.lit(`
        BEGIN
          RETURN NOT EXISTS (
            SELECT 1 FROM json_each(a) AS x FULL JOIN json_each(b) AS y ON x.key = y.key
            WHERE x.key IS NULL OR y.key IS NULL OR x.value::jsonb <> y.value::jsonb);
        EXCEPTION WHEN untranslatable_character OR invalid_parameter_value THEN
          RETURN false;
        END`)}`.execute(db);
      await sql`
        CREATE OR REPLACE FUNCTION ${sql.id(tables.schema, tables.writeFunction)}(
          p_keys int4[], p_ids text[], p_ops text[], p_texts text[], ${sql.raw(input.parameters)},
          p_metadata text[], ${sql.raw(embeddings === 'array' ? 'p_hash_prefixes bytea[], ' : '')}p_hashes text[],
          p_now bigint, p_notify boolean ${callLocksParameters(locking)})
        RETURNS TABLE (out_n int, out_version bigint, out_changed boolean)
        LANGUAGE plpgsql VOLATILE
        ${FUNCTION_SETTINGS} AS ${sql.lit(`
${input.declare && `DECLARE ${input.declare}`}
${lockedBody(q, 'write_changes', `${input.unpack} RETURN QUERY ${body};`, locking)}`)}`.execute(db);
    },
  };

  function writeStatement(names: PostgresTableNames): RawBuilder<unknown> {
    const records = sql.id(names.schema, names.records);
    const metadataEqual = sql.id(names.schema, names.metadataEqualFunction);
    const embeddingEqual = sql.id(names.schema, names.embeddingEqualFunction);
    const sequence = sql.lit(`"${names.schema}"."${names.versionSequence}"`);
    return sql`
      WITH w AS (
        SELECT * FROM unnest(p_ids, p_ops, p_texts, ${sql.raw(input.array)}, p_metadata, p_hashes)
          WITH ORDINALITY AS t(id, op, text, embedding, metadata, hash, n)
      ),
      c AS MATERIALIZED (
        SELECT w.*, cur.version AS cur_version, cur.text AS cur_text, cur.metadata AS cur_metadata,
          cur.embedding AS cur_embedding, cur.synced_version AS cur_synced, coalesce(NOT cur.deleted, false) AS live,
          CASE WHEN w.op = 'delete' THEN NULL WHEN w.embedding IS NOT NULL THEN w.embedding
            WHEN NOT cur.deleted AND cur.text = w.text THEN cur.embedding END AS e
        FROM w LEFT JOIN ${records} AS cur ON cur.id = w.id
      ),
      d AS MATERIALIZED (
        SELECT c.*, CASE WHEN c.op = 'delete' THEN c.live ELSE NOT (c.live AND c.cur_text = c.text
          AND (c.cur_embedding IS NOT DISTINCT FROM c.e OR coalesce(${embeddingEqual}(c.cur_embedding, c.e), false))
          AND (c.cur_metadata::text = c.metadata
            OR coalesce(${metadataEqual}(c.cur_metadata, c.metadata::json), false))) END AS changed
        FROM c
      ),
      v AS MATERIALIZED (
        SELECT n, nextval(${sequence}::regclass) AS version FROM d WHERE changed ORDER BY n
      ),
      x AS (SELECT d.*, v.version FROM d JOIN v USING (n)),
      r AS (
        ${q.recordUpsert(sql`SELECT id, CASE WHEN op = 'delete' THEN '' ELSE text END, e,
          (CASE WHEN op = 'delete' THEN '{}' ELSE metadata END)::json, version, op = 'delete',
          CASE WHEN op = 'delete' THEN '' ELSE hash END,
          cur_synced, p_now, p_now FROM x`)}
        RETURNING 1
      ),
      o AS (
        ${q.outboxUpsert(sql`SELECT id, version, op, 'pending', 0, p_now, p_now, NULL::text, NULL::text, NULL::text,
          NULL::bigint, NULL::bigint FROM x`)}
        RETURNING 1
      ),
      notified AS (SELECT pg_notify(${sql.lit(names.notifyChannel)}, '') WHERE p_notify AND EXISTS (SELECT 1 FROM v))
      SELECT d.n::int, coalesce(v.version, CASE WHEN d.live THEN d.cur_version END), d.changed
      FROM d LEFT JOIN v USING (n) CROSS JOIN (SELECT count(*) FROM notified) AS notifications
      ORDER BY d.n`;
  }
}

/**
 * The migration that indexes the intents on `record_id`: sync-2pc's commit and every ack look intents up by
 * record. (The functions' index lookups, {@link FUNCTION_SETTINGS}, come with `0006_functions_and_ack`, which
 * recreates them.)
 */
export function indexLookupsMigration(tables: PostgresTableNames): Migration {
  return {
    async up(db) {
      await sql`CREATE INDEX ${sql.id(tables.intentsRecordIndex)}
        ON ${sql.id(tables.schema, tables.intents)} (record_id)`.execute(db);
    },
  };
}

/**
 * The call of the write function for `changes` (each id at most once, in the order versions are drawn; locks
 * are taken in key order, see `PostgresQueries.lockKeys`, or only tried: `locks`), as one
 * statement; {@link writeResults} maps its rows back. Puts carry their hash: the
 * client's `contentHash` over the embedding the caller gave (or none, even when the stored one is reused: see
 * core's `filledByEmbedder`). It calls the `'packed'` variant (migration `0011_packed_embeddings`; see
 * `EmbeddingsInput`): the embeddings travel as one binary parameter.
 */
export function writeChangesCall(
  tables: PostgresTableNames,
  q: PostgresQueries,
  changes: readonly Change[],
  now: number,
  notify: boolean,
  locks: CallLocks,
): RawBuilder<WriteRow> {
  const puts = changes.map((c) => (c.op === 'put' ? c.record : undefined));
  const embeddings = puts.map((r) => (r?.embedding === undefined ? null : toFloat32Precision(r.embedding)));
  const ids = changes.map(changeId);
  return sql<WriteRow>`SELECT out_n, out_version, out_changed FROM ${sql.id(tables.schema, tables.writeFunction)}(
    ${q.lockKeys(ids)}::int4[], ${ids}::text[], ${changes.map((c) => (c.op === 'put' ? 'upsert' : 'delete'))}::text[],
    ${puts.map((r) => r?.text ?? '')}::text[],
    ${packedEmbeddingsArguments(embeddings)},
    ${puts.map((r) => metadataJson(r?.metadata ?? {}))}::text[],
    ${puts.map((r, i) => (r === undefined ? '' : contentHash(r.text, r.metadata, embeddings[i] ?? null)))}::text[],
    ${now}::bigint, ${notify}${callLocksArguments(locks)})`;
}

/** A row of the write function: the change's 1-based position, its version, whether it wrote. */
export interface WriteRow {
  out_n: number;
  out_version: SqlInt | null;
  out_changed: boolean;
}

/** The results of `changes` (the order given to {@link writeChangesCall}) from the function's rows. */
export function writeResults(changes: readonly Change[], rows: readonly WriteRow[]): WriteResult[] {
  return rows.map((row) => {
    const change = changes[row.out_n - 1]!;
    return {
      id: changeId(change),
      version: row.out_version === null ? null : int(row.out_version),
      changed: row.out_changed,
    };
  });
}
