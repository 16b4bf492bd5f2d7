/**
 * The relational store's SQL that is the same in every dialect, written once over Kysely's `sql` template
 * (the dialect compiles placeholders and identifiers): records, the outbox rows the ledger reads and
 * changes, dead letters, gauges, intents, the embedding cache and the meta table, the write path's upserts
 * and the set-based acks. A dialect extends {@link SqlQueries} with what differs: the version sequence, its
 * per-record locks, and hooks where its SQL is spelled differently (the upsert, the claim's locking clause).
 */

import { randomUUID } from 'node:crypto';
import type {
  EmbeddingUpdate,
  LedgerOutboxPatch,
  LedgerOutboxRow,
  OutboxEntry,
  OutboxLease,
  OutboxOp,
  OutboxStats,
  RecordVersion,
  RecordWrite,
  StoredRecord,
  SyncedOrder,
  SyncedVersion,
  TwoPhaseIntent,
} from '@dualwrite/core';
import { chunksBySize, compareIds, decodeEmbedding } from '@dualwrite/core';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import {
  bool,
  type ClaimedOutboxRow,
  embeddingBytes,
  type IntentRow,
  int,
  intOrNull,
  metadataJson,
  type OutboxRow,
  type RecordRow,
  type SqlBool,
  type SqlInt,
  toIntent,
  toLedgerRow,
  toOutboxEntry,
  toStoredRecord,
} from './sql-rows.js';
import type { SqlTableNames } from './sql-table-names.js';

// biome-ignore lint/suspicious/noExplicitAny: the store's tables are addressed with raw SQL
export type SqlDb = Kysely<any>;

/** The store's tables, as identifiers ready for the `sql` template (`sql.table(...)` / `sql.id(schema, t)`). */
export interface SqlTables {
  records: RawBuilder<unknown>;
  outbox: RawBuilder<unknown>;
  intents: RawBuilder<unknown>;
  cache: RawBuilder<unknown>;
  meta: RawBuilder<unknown>;
}

/**
 * The {@link SqlTables} of `names`, each addressed by `ref` (`sql.table` for a plain name, or a
 * schema-qualified `sql.id(schema, name)`).
 */
export function sqlTables(
  names: SqlTableNames,
  ref: (name: string) => RawBuilder<unknown> = (name) => sql.table(name),
): SqlTables {
  return {
    records: ref(names.records),
    outbox: ref(names.outbox),
    intents: ref(names.intents),
    cache: ref(names.embeddingCache),
    meta: ref(names.meta),
  };
}

/** What a dialect tells the shared SQL. */
export interface SqlDialectTraits {
  /** A boolean as a bound parameter: `1/0` (SQLite, whose driver cannot bind booleans) or `true/false`. */
  bool(value: boolean): unknown;
  /**
   * `true` when a read-modify-write must lock the outbox row it read (`SELECT … FOR UPDATE`: PostgreSQL,
   * MySQL, under READ COMMITTED / REPEATABLE READ). `false` when the write transaction already excludes
   * every other writer (SQLite's `BEGIN IMMEDIATE`).
   */
  lockRowsForUpdate: boolean;
  /**
   * A bound integer where nothing else tells the server its type (a `CASE … THEN ?` arm): PostgreSQL must be
   * told (`CAST(? AS BIGINT)`); SQLite and MySQL bind it as it is (the default). Binding instead of inlining
   * keeps a statement's text the same from one call to the next, so SQLite's statement cache serves it.
   */
  typedInt?(value: number): RawBuilder<unknown>;
  /**
   * `true` where the driver prepares each distinct SQL text once and reuses it (SQLite's statement cache):
   * the id lists of the shared `IN` / `CASE` statements are then padded, repeating their last item, to a
   * power of two (or {@link IN_CHUNK}), so a delivery of 37 ids reuses the statement of 64 instead of
   * preparing its own. Preparing an ack's `CASE` of 100 ids took 0.55 ms on SQLite, more than running it,
   * and a new one was prepared for nearly every delivered batch, on the caller's event loop.
   */
  reusesStatements?: boolean;
}

/** What a one-statement claim ({@link SqlQueries.claim}) writes: owner, expiry (Unix ms), at `now`, at most `limit`. */
export interface ClaimLease {
  owner: string;
  now: number;
  leaseUntil: number;
  limit: number;
}

/** Most bound parameters per `IN (...)` list. */
export const IN_CHUNK = 500;

/** Splits `items` into chunks of at most {@link IN_CHUNK}. */
export function chunks<T>(items: readonly T[], size = IN_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Outbox columns of {@link LedgerOutboxPatch}, by property. */
const OUTBOX_COLUMNS: Record<keyof LedgerOutboxPatch, string> = {
  state: 'state',
  attempts: 'attempts',
  lastError: 'last_error',
  nextAttemptAt: 'next_attempt_at',
  leaseToken: 'lease_token',
  leaseOwner: 'lease_owner',
  leaseUntil: 'lease_until',
  leaseVersion: 'lease_version',
};

/** The shared statements; a dialect subclass adds the rest. */
export abstract class SqlQueries {
  /**
   * Largest statement the server takes, bytes, once values are inlined (MySQL's `max_allowed_packet`, with a
   * margin); `undefined` when only {@link IN_CHUNK} bounds a statement. The id lists of the shared statements
   * are split to fit it, so many long ids cannot make one statement the server refuses (an ack of 300 ids of
   * 1,524 bytes was refused by a 1 MiB `max_allowed_packet`, for ever).
   */
  statementBytes: number | undefined;

  constructor(
    protected readonly tables: SqlTables,
    protected readonly traits: SqlDialectTraits,
  ) {}

  /**
   * The rows of `query` on `db`. A dialect may run the statements the drain repeats most (the claim, a read of
   * records by id, a meta read) otherwise where `db` is the store's own handle rather than a transaction:
   * PostgreSQL as named prepared statements.
   */
  protected async rowsOf<R>(db: SqlDb, query: RawBuilder<R>): Promise<R[]> {
    return (await query.execute(db)).rows;
  }

  /**
   * `items` in runs of at most {@link IN_CHUNK} and {@link statementBytes}: `key` is what each item puts in the
   * statement (an id, a token), inlined at most four times (an `IN` list twice, a `CASE` arm, a token), each
   * character escaped at worst, plus `extraBytes` of binary values (an embedding's, inlined as hex).
   */
  protected chunks<T>(
    items: readonly T[],
    key: (item: T) => string,
    extraBytes: (item: T) => number = () => 0,
  ): T[][] {
    const budget = this.statementBytes;
    if (budget === undefined) return chunks(items);
    const size = (item: T) => 4 * (2 * Buffer.byteLength(key(item)) + 3) + 96 + 2 * extraBytes(item);
    return chunksBySize(items, IN_CHUNK, budget, size);
  }

  /**
   * {@link chunks} for a statement that only *names* the items (an `IN` list, `CASE` arms): naming one twice
   * changes nothing, so where the dialect {@link SqlDialectTraits.reusesStatements} each chunk is padded to a
   * few lengths. Never for a `VALUES` list.
   */
  protected listChunks<T>(items: readonly T[], key: (item: T) => string): T[][] {
    const out = this.chunks(items, key);
    if (!this.traits.reusesStatements) return out;
    return out.map((chunk) => {
      const length = Math.min(IN_CHUNK, 2 ** Math.ceil(Math.log2(chunk.length)));
      return length === chunk.length
        ? chunk
        : [...chunk, ...new Array<T>(length - chunk.length).fill(chunk.at(-1)!)];
    });
  }

  /** Highest version the sequence has handed out (0 when none). */
  abstract currentVersion(db: SqlDb): Promise<number>;

  /**
   * A server dialect's statement reading the server's clock now as Unix ms, in column `t` (a number or its text).
   * None for an embedded database: its clock is the one the process reads.
   */
  protected clockQuery?(): RawBuilder<{ t: number | string }>;

  /** The database server's clock now, Unix ms (see `RelationalStore.sourceTime`). */
  async serverTime(db: SqlDb): Promise<number> {
    if (!this.clockQuery) throw new Error('this dialect reads no server clock');
    const { rows } = await this.clockQuery().execute(db);
    return Number(rows[0]!.t);
  }

  /**
   * Draws the next version (`> atLeast`) from the store-wide sequence inside a write transaction: strictly
   * increasing across sessions, never handed out twice.
   */
  abstract nextVersion(db: SqlDb, atLeast: number): Promise<number>;

  // -- dialect hooks (defaults: the SQL standard's upsert as SQLite and PostgreSQL spell it) ---------

  /** Whether writers must take per-record locks ({@link lockRecords}) before a read-modify-write of an id. */
  readonly locksRecords: boolean = false;

  /**
   * Whether {@link lockRecords} also refuses to run outside the transaction it began in (PostgreSQL): a write
   * after `beforeWrite` then takes its locks again, already held or not, so each write is checked.
   */
  readonly lockChecksTransaction: boolean = false;

  /**
   * Takes the per-record locks of `ids` until the transaction ends (no-op where a write transaction already
   * excludes every other writer).
   */
  async lockRecords(_db: SqlDb, _ids: readonly string[]): Promise<void> {}

  /**
   * {@link lockRecords} of `id`, then its row: two statements by default (on PostgreSQL a READ COMMITTED
   * statement's snapshot predates a lock it waits for, so the read must come after). A dialect whose locking
   * read sees the latest committed row (InnoDB) does both in one.
   */
  async lockAndGetRecord(db: SqlDb, id: string): Promise<RecordRow | undefined> {
    await this.lockRecords(db, [id]);
    return this.getRecord(db, id);
  }

  /** `INSERT INTO <table>`, aliased `t` where the dialect can name the existing row in an upsert. */
  protected insertInto(table: RawBuilder<unknown>): RawBuilder<unknown> {
    return sql`INSERT INTO ${table} AS t`;
  }

  /** The start of an upsert's update list, for the unique `key`. */
  protected onConflict(key: string): RawBuilder<unknown> {
    return sql`ON CONFLICT (${sql.ref(key)}) DO UPDATE SET`;
  }

  /** In an upsert's update list: the value proposed for `column`. */
  protected inserted(column: string): RawBuilder<unknown> {
    return sql`excluded.${sql.ref(column)}`;
  }

  /** In an upsert's update list: the existing row's `column`. */
  protected existing(column: string): RawBuilder<unknown> {
    return sql.ref(`t.${column}`);
  }

  /** Whether texts `a` and `b` are the same characters (MySQL's collations ignore trailing spaces). */
  protected sameText(a: RawBuilder<unknown>, b: RawBuilder<unknown>): RawBuilder<unknown> {
    return sql`${a} = ${b}`;
  }

  /**
   * A table addressed by primary key in a statement that locks rows (`SELECT … FOR UPDATE`, `UPDATE`), as its
   * `FROM`/`UPDATE` target. MySQL forces the primary key index: on a small table its optimizer prefers a scan
   * for a long `IN` list, and a locking scan waits for (and deadlocks on) rows the statement does not touch.
   */
  protected byKey(table: RawBuilder<unknown>): RawBuilder<unknown> {
    return table;
  }

  /**
   * `DELETE` of the rows of `table` whose primary key `column` is one of `keys` and that also meet `condition`
   * (its columns unqualified, or qualified by the table's name). A dialect whose optimizer may scan a small
   * table for an `IN` list spells it so that only the keys' rows are read (see MySQL's).
   */
  deleteKeys(
    table: RawBuilder<unknown>,
    column: string,
    keys: readonly unknown[],
    condition?: RawBuilder<unknown>,
  ): RawBuilder<unknown> {
    return sql`DELETE FROM ${table} WHERE ${sql.ref(column)} IN (${sql.join(keys)})
      ${condition ? sql`AND ${condition}` : sql``}`;
  }

  /** `FOR UPDATE` where a read-modify-write locks the rows it read ({@link SqlDialectTraits.lockRowsForUpdate}). */
  #forUpdate(): RawBuilder<unknown> {
    return this.traits.lockRowsForUpdate ? sql`FOR UPDATE` : sql``;
  }

  /**
   * `FOR UPDATE SKIP LOCKED` where rows lock ({@link SqlDialectTraits.lockRowsForUpdate}): rows another session is
   * locking right now are skipped, not waited for (the claim's SELECT, {@link setEmbeddings}).
   */
  #skipLocked(): RawBuilder<unknown> {
    return this.traits.lockRowsForUpdate ? sql`FOR UPDATE SKIP LOCKED` : sql``;
  }

  // -- records -------------------------------------------------------------------------------------

  async getRecords(db: SqlDb, ids: readonly string[], includeDeleted: boolean): Promise<StoredRecord[]> {
    const out: StoredRecord[] = [];
    for (const chunk of this.listChunks([...new Set(ids)], (id) => id)) {
      const rows = await this.rowsOf(
        db,
        sql<RecordRow>`
          SELECT * FROM ${this.tables.records}
          WHERE id IN (${sql.join(chunk)})
          ${includeDeleted ? sql`` : sql`AND deleted = ${this.traits.bool(false)}`}`,
      );
      out.push(...rows.map(toStoredRecord));
    }
    return out;
  }

  async listRecords(db: SqlDb, after: string | undefined, limit: number): Promise<StoredRecord[]> {
    const { rows } = await sql<RecordRow>`
      SELECT * FROM ${this.tables.records}
      WHERE deleted = ${this.traits.bool(false)} ${after === undefined ? sql`` : sql`AND id > ${after}`}
      ORDER BY id LIMIT ${limit}`.execute(db);
    return rows.map(toStoredRecord);
  }

  async listVersions(db: SqlDb, after: string | undefined, limit: number): Promise<RecordVersion[]> {
    const { rows } = await sql<{ id: string; version: SqlInt; deleted: SqlBool }>`
      SELECT id, version, deleted FROM ${this.tables.records}
      ${after === undefined ? sql`` : sql`WHERE id > ${after}`}
      ORDER BY id LIMIT ${limit}`.execute(db);
    return rows.map((r) => ({ id: r.id, version: int(r.version), deleted: bool(r.deleted) }));
  }

  async countRecords(db: SqlDb): Promise<number> {
    const { rows } = await sql<{ n: SqlInt }>`
      SELECT count(*) AS n FROM ${this.tables.records} WHERE deleted = ${this.traits.bool(false)}`.execute(
      db,
    );
    return int(rows[0]?.n ?? 0);
  }

  async getRecord(db: SqlDb, id: string): Promise<RecordRow | undefined> {
    const { rows } = await this.getRecordQuery(id).execute(db);
    return rows[0];
  }

  getRecordQuery(id: unknown): RawBuilder<RecordRow> {
    return sql<RecordRow>`SELECT * FROM ${this.tables.records} WHERE id = ${id}`;
  }

  /** The bound values of {@link writeRecordQuery}, in statement order. */
  recordValues(r: RecordWrite): unknown[] {
    const blob = r.embedding === null ? null : embeddingBytes(r.embedding);
    const { bool } = this.traits;
    const metadata = metadataJson(r.metadata);
    return [
      r.id,
      r.text,
      blob,
      metadata,
      r.version,
      bool(r.deleted),
      r.contentHash,
      r.syncedVersion,
      r.now,
      r.now,
    ];
  }

  /**
   * Inserts or replaces a record. On replace, `created_at` is kept (reset when a tombstone comes back to
   * life) and `synced_version` never goes backwards (a `null` in the write keeps the stored value). The two
   * come first in the update list (MySQL applies assignments left to right).
   */
  async writeRecord(db: SqlDb, r: RecordWrite): Promise<void> {
    await this.writeRecordQuery(this.recordValues(r)).execute(db);
  }

  writeRecordQuery(values: readonly unknown[]): RawBuilder<unknown> {
    return this.recordUpsert(sql`VALUES (${sql.join(values)})`);
  }

  /**
   * The record upsert of {@link writeRecord} over `source`: a `VALUES` list, or a `SELECT` of the columns
   * `(id, text, embedding, metadata, version, deleted, content_hash, synced_version, created_at, updated_at)`
   * touching each id once. With `keepEmbedding`, a live record's embedding is kept when the write carries none
   * and the same text (core's `planOne` rule for a put without an embedding, for a write that does not know
   * the stored one: MySQL's write procedure); without it a `null` embedding is written as `null` (an
   * embedder change clears embeddings so).
   */
  recordUpsert(source: RawBuilder<unknown>, options: { keepEmbedding?: boolean } = {}): RawBuilder<unknown> {
    const [ins, old] = [(c: string) => this.inserted(c), (c: string) => this.existing(c)];
    const { bool } = this.traits;
    return sql`
      ${this.insertInto(this.tables.records)}
        (id, text, embedding, metadata, version, deleted, content_hash, synced_version, created_at, updated_at)
      ${source}
      ${this.onConflict('id')}
        synced_version = CASE
          WHEN ${ins('synced_version')} IS NULL THEN ${old('synced_version')}
          WHEN ${old('synced_version')} IS NULL OR ${ins('synced_version')} > ${old('synced_version')}
            THEN ${ins('synced_version')}
          ELSE ${old('synced_version')} END,
        created_at = CASE WHEN ${old('deleted')} = ${sql.lit(bool(true))} AND ${ins('deleted')} = ${sql.lit(bool(false))}
          THEN ${ins('created_at')} ELSE ${old('created_at')} END,
        embedding = ${
          options.keepEmbedding
            ? sql`CASE WHEN ${ins('embedding')} IS NULL AND ${ins('deleted')} = ${sql.lit(bool(false))}
                AND ${old('deleted')} = ${sql.lit(bool(false))} AND ${this.sameText(old('text'), ins('text'))}
              THEN ${old('embedding')} ELSE ${ins('embedding')} END`
            : ins('embedding')
        },
        text = ${ins('text')}, metadata = ${ins('metadata')},
        version = ${ins('version')}, deleted = ${ins('deleted')}, content_hash = ${ins('content_hash')},
        updated_at = ${ins('updated_at')}`;
  }

  /** Version and tombstone flag of the record row. */
  async getRecordState(db: SqlDb, id: string): Promise<{ version: number; deleted: boolean } | undefined> {
    const { rows } = await sql<{ version: SqlInt; deleted: SqlBool }>`
      SELECT version, deleted FROM ${this.tables.records} WHERE id = ${id}`.execute(db);
    const row = rows[0];
    return row && { version: int(row.version), deleted: bool(row.deleted) };
  }

  /** Stores `embedding` if the record is live and still at `version` (waits for its row); `true` when it was. */
  async setEmbedding(db: SqlDb, id: string, version: number, embedding: readonly number[]): Promise<boolean> {
    const result = await sql`
      UPDATE ${this.tables.records} SET embedding = ${embeddingBytes(embedding)}
      WHERE id = ${id} AND version = ${version} AND deleted = ${this.traits.bool(false)}`.execute(db);
    return (result.numAffectedRows ?? 0n) > 0n;
  }

  /**
   * Stores, in a transaction, the embeddings of the records still live at the given versions, never waiting for a
   * row: a chunk at a time, the rows that are (locked `FOR UPDATE SKIP LOCKED` where rows lock), then one `UPDATE`
   * of those, guarded by the same condition. A row another session holds is skipped and reported `held` when it is
   * live at its version (read again without a lock). An id given twice: the last update counts.
   * @returns the ids stored, and the ids held by another session (not stored).
   */
  async setEmbeddings(
    db: SqlDb,
    updates: readonly EmbeddingUpdate[],
  ): Promise<{ stored: Set<string>; held: string[] }> {
    const stored = new Set<string>();
    const held: string[] = [];
    const live = sql`deleted = ${this.traits.bool(false)}`;
    const last = [...new Map(updates.map((u) => [u.id, u])).values()];
    const liveVersions = async (chunk: readonly EmbeddingUpdate[], locking: boolean) => {
      const { rows } = await sql<{ id: string; version: SqlInt }>`
        SELECT id, version FROM ${locking ? this.byKey(this.tables.records) : this.tables.records}
        WHERE id IN (${sql.join(chunk.map((u) => u.id))}) AND ${live} ${locking ? this.#skipLocked() : sql``}`.execute(
        db,
      );
      return new Map(rows.map((r) => [r.id, int(r.version)]));
    };
    for (const chunk of this.chunks(
      last,
      (u) => u.id,
      (u) => 4 * u.embedding.length,
    )) {
      const versions = await liveVersions(chunk, true);
      const due = chunk.filter((u) => versions.get(u.id) === u.version);
      const skipped = this.traits.lockRowsForUpdate ? chunk.filter((u) => !versions.has(u.id)) : [];
      if (skipped.length > 0) {
        const unlocked = await liveVersions(skipped, false);
        for (const u of skipped) if (unlocked.get(u.id) === u.version) held.push(u.id);
      }
      if (due.length === 0) continue;
      // `ELSE embedding` gives the `CASE` the column's type, which the bound bytes then take (PostgreSQL).
      const embeddings = due.map((u) => sql`WHEN ${u.id} THEN ${embeddingBytes(u.embedding)}`);
      const version = this.#versionOf(
        'id',
        due.map((u) => ({ recordId: u.id, appliedVersion: u.version })),
      );
      await sql`
        UPDATE ${this.byKey(this.tables.records)}
        SET embedding = CASE id ${sql.join(embeddings, sql` `)} ELSE embedding END
        WHERE id IN (${sql.join(due.map((u) => u.id))}) AND version = ${version} AND ${live}`.execute(db);
      for (const u of due) stored.add(u.id);
    }
    return { stored, held };
  }

  /** Raises `synced_version` to `version` if that is higher (a missing record is ignored). */
  async markSynced(db: SqlDb, id: string, version: number): Promise<void> {
    await sql`
      UPDATE ${this.tables.records} SET synced_version = ${version}
      WHERE id = ${id} AND (synced_version IS NULL OR synced_version < ${version})`.execute(db);
  }

  /** Deletes the record row if it is a tombstone at `version` or older. */
  async deleteTombstone(db: SqlDb, id: string, version: number): Promise<void> {
    await sql`
      DELETE FROM ${this.tables.records}
      WHERE id = ${id} AND deleted = ${this.traits.bool(true)} AND version <= ${version}`.execute(db);
  }

  // -- outbox rows ---------------------------------------------------------------------------------

  /** The outbox row of `recordId` with its lease columns (locked `FOR UPDATE` with `lock` where rows lock). */
  async getOutboxRow(db: SqlDb, recordId: string, lock = false): Promise<LedgerOutboxRow | undefined> {
    const { rows } = await sql<OutboxRow>`
      SELECT * FROM ${this.tables.outbox} WHERE record_id = ${recordId}
      ${lock ? this.#forUpdate() : sql``}`.execute(db);
    return rows[0] && toLedgerRow(rows[0]);
  }

  /** The outbox entry of `recordId` in either state, without lease columns. */
  async getOutboxEntry(db: SqlDb, recordId: string): Promise<OutboxEntry | undefined> {
    const { rows } = await this.getOutboxQuery(recordId).execute(db);
    return rows[0] && toOutboxEntry(rows[0]);
  }

  getOutboxQuery(recordId: unknown): RawBuilder<OutboxRow> {
    return sql<OutboxRow>`SELECT * FROM ${this.tables.outbox} WHERE record_id = ${recordId}`;
  }

  /** The coalescing enqueue of `RelationalTx.enqueue`: one entry per record id, the newest version wins. */
  async enqueue(db: SqlDb, recordId: string, version: number, op: OutboxOp, now: number): Promise<void> {
    await this.enqueueQuery([recordId, version, op, now, now]).execute(db);
  }

  /** The statement of {@link enqueue} over `[recordId, version, op, now, now]`. */
  enqueueQuery(values: readonly unknown[]): RawBuilder<unknown> {
    const [recordId, version, op, next, enqueued] = values;
    return this.outboxUpsert(sql`VALUES ${this.pendingOutboxRow(recordId, version, op, next, enqueued)}`);
  }

  /**
   * One row of {@link outboxUpsert}'s `VALUES` for a new pending entry: no attempts, no error, no lease. Values
   * are bound, or inlined where they are `RawBuilder`s (a function body's variables).
   */
  pendingOutboxRow(
    recordId: unknown,
    version: unknown,
    op: unknown,
    next: unknown,
    enqueued: unknown = next,
  ): RawBuilder<unknown> {
    return sql`(${sql.join(this.pendingOutboxValues(recordId, version, op, next, enqueued))})`;
  }

  /** The values of {@link pendingOutboxRow}, in column order. */
  pendingOutboxValues(
    recordId: unknown,
    version: unknown,
    op: unknown,
    next: unknown,
    enqueued: unknown = next,
  ) {
    const NULL = sql`NULL`;
    return [recordId, version, op, sql`'pending'`, sql`0`, next, enqueued, NULL, NULL, NULL, NULL, NULL];
  }

  /**
   * The coalescing enqueue of {@link enqueue} over `source`: a `VALUES` list, or a `SELECT` of the columns
   * `(record_id, version, op, state, attempts, next_attempt_at, enqueued_at, last_error, lease_owner,
   * lease_token, lease_until, lease_version)` touching each id once.
   */
  outboxUpsert(source: RawBuilder<unknown>): RawBuilder<unknown> {
    const [ins, old] = [(c: string) => this.inserted(c), (c: string) => this.existing(c)];
    return sql`
      ${this.insertInto(this.tables.outbox)}
        (record_id, version, op, state, attempts, next_attempt_at, enqueued_at, last_error,
         lease_owner, lease_token, lease_until, lease_version)
      ${source}
      ${this.onConflict('record_id')}
        enqueued_at = CASE WHEN ${old('state')} = 'pending' THEN ${old('enqueued_at')} ELSE ${ins('enqueued_at')} END,
        version = ${ins('version')}, op = ${ins('op')}, attempts = 0, state = 'pending',
        next_attempt_at = ${ins('next_attempt_at')},
        lease_version = CASE WHEN ${old('lease_version')} IS NULL OR ${old('lease_version')} < ${ins('version')}
          THEN ${old('lease_version')} ELSE ${ins('version')} - 1 END`;
  }

  /**
   * A dialect's one-statement claim, when it has one: leases up to `limit` due entries (pending,
   * `next_attempt_at <= now`, no live lease), oldest first, each under a fresh token, `lease_version` = its
   * version, and returns their rows in any order, each with `taken_over`: it had a lease (expired: an ack, a
   * fail or a release clears it) before the claim. Without it the store claims in a transaction
   * ({@link dueOutbox}, then {@link leaseRows}).
   */
  claim?(db: SqlDb, lease: ClaimLease): Promise<ClaimedOutboxRow[]>;

  /** Due pending entries without a live lease, oldest first (`FOR UPDATE SKIP LOCKED` where rows lock). */
  async dueOutbox(db: SqlDb, now: number, limit: number): Promise<OutboxRow[]> {
    const { rows } = await sql<OutboxRow>`${this.#due(sql`*`, now, limit)}`.execute(db);
    return rows;
  }

  /** The `record_id`s (or other `columns`) of {@link dueOutbox}'s rows, as a subquery for a one-statement {@link claim}. */
  protected dueIds(now: number, limit: number, columns = sql`record_id`): RawBuilder<unknown> {
    return this.#due(columns, now, limit);
  }

  #due(columns: RawBuilder<unknown>, now: number, limit: number): RawBuilder<unknown> {
    return sql`
      SELECT ${columns} FROM ${this.tables.outbox}
      WHERE state = 'pending' AND next_attempt_at <= ${now} AND (lease_until IS NULL OR lease_until <= ${now})
      ORDER BY next_attempt_at, enqueued_at
      LIMIT ${limit} ${this.#skipLocked()}`;
  }

  /**
   * Writes a lease on each of the claimed `rows` (a fresh token each; `lease_version` = its version); a row
   * still carrying an expired lease is {@link OutboxLease.takenOver}.
   */
  async leaseRows(
    db: SqlDb,
    rows: readonly OutboxRow[],
    owner: string,
    until: number,
  ): Promise<OutboxLease[]> {
    const leases = rows.map((row) => ({
      ...toOutboxEntry(row),
      leaseOwner: owner,
      leaseToken: randomUUID(),
      leaseUntil: until,
      takenOver: row.lease_until !== null,
    }));
    for (const chunk of this.listChunks(leases, (l) => l.recordId + l.leaseToken)) {
      const tokens = chunk.map((l) => sql`WHEN ${l.recordId} THEN ${l.leaseToken}`);
      await sql`
        UPDATE ${this.byKey(this.tables.outbox)}
        SET lease_token = CASE record_id ${sql.join(tokens, sql` `)} END, lease_owner = ${owner},
          lease_until = ${until}, lease_version = version
        WHERE record_id IN (${sql.join(chunk.map((l) => l.recordId))})`.execute(db);
    }
    return leases;
  }

  /** The outbox rows of distinct `recordIds` (locked `FOR UPDATE` where rows lock), by record id. */
  async getOutboxRows(db: SqlDb, recordIds: readonly string[]): Promise<Map<string, LedgerOutboxRow>> {
    const out = new Map<string, LedgerOutboxRow>();
    for (const chunk of this.listChunks(recordIds, (id) => id)) {
      const { rows } = await sql<OutboxRow>`
        SELECT * FROM ${this.byKey(this.tables.outbox)} WHERE record_id IN (${sql.join(chunk)})
        ${this.#forUpdate()}`.execute(db);
      for (const row of rows) out.set(row.record_id, toLedgerRow(row));
    }
    return out;
  }

  /** `CASE <column> WHEN id THEN version … END` over `acks` (versions bound, see {@link SqlDialectTraits.typedInt}). */
  #versionOf(
    column: string,
    acks: readonly { recordId: string; appliedVersion: number }[],
  ): RawBuilder<unknown> {
    const typedInt = this.traits.typedInt ?? ((value: number) => sql`${value}`);
    const arms = acks.map((a) => {
      if (!Number.isSafeInteger(a.appliedVersion)) throw new RangeError(`appliedVersion ${a.appliedVersion}`);
      return sql`WHEN ${a.recordId} THEN ${typedInt(a.appliedVersion)}`;
    });
    return sql`CASE ${sql.ref(column)} ${sql.join(arms, sql` `)} END`;
  }

  /** The ledger's `raiseSyncedVersion` for distinct ids, a statement per chunk. */
  async raiseSyncedVersions(
    db: SqlDb,
    acks: readonly { recordId: string; appliedVersion: number }[],
  ): Promise<void> {
    for (const chunk of this.listChunks(acks, (a) => a.recordId)) {
      const version = this.#versionOf('id', chunk);
      await sql`
        UPDATE ${this.byKey(this.tables.records)} SET synced_version = ${version}
        WHERE id IN (${sql.join(chunk.map((a) => a.recordId))})
          AND (synced_version IS NULL OR synced_version < ${version})`.execute(db);
    }
  }

  /** Superseded deliveries: leases cleared, claimable again by `now`. */
  async clearLeases(db: SqlDb, recordIds: readonly string[], now: number): Promise<void> {
    for (const chunk of this.listChunks(recordIds, (id) => id))
      await sql`
        UPDATE ${this.byKey(this.tables.outbox)}
        SET next_attempt_at = CASE WHEN next_attempt_at < ${now} THEN next_attempt_at ELSE ${now} END,
          lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL
        WHERE record_id IN (${sql.join(chunk)})`.execute(db);
  }

  /**
   * Acked deliveries: entries deleted, tombstones at the applied version or older purged unless an intent exists.
   * Only acks of a delete (`op` of the entry acknowledged) can meet a tombstone: an entry carries its record's
   * latest version and state, so a record whose entry says `upsert` is live, and the purge is skipped for them
   * (a round trip of every ack on MySQL).
   */
  async completeDeliveries(
    db: SqlDb,
    acks: readonly { recordId: string; appliedVersion: number; op: 'upsert' | 'delete' }[],
  ): Promise<void> {
    for (const chunk of this.listChunks(acks, (a) => a.recordId))
      await this.deleteKeys(
        this.tables.outbox,
        'record_id',
        chunk.map((a) => a.recordId),
      ).execute(db);
    const deletes = acks.filter((a) => a.op === 'delete');
    for (const chunk of this.listChunks(deletes, (a) => a.recordId)) {
      const keys = chunk.map((a) => a.recordId);
      await this.deleteKeys(
        this.tables.records,
        'id',
        keys,
        sql`deleted = ${this.traits.bool(true)} AND version <= ${this.#versionOf('id', chunk)}
          AND id NOT IN (SELECT record_id FROM ${this.tables.intents} WHERE record_id IN (${sql.join(keys)}))`,
      ).execute(db);
    }
  }

  /** The ids of `leases` still held under their tokens on pending entries (locked where rows lock). */
  async heldLeases(
    db: SqlDb,
    leases: readonly { recordId: string; leaseToken: string }[],
  ): Promise<string[]> {
    const held: string[] = [];
    for (const chunk of this.listChunks(leases, (l) => l.recordId + l.leaseToken)) {
      const { rows } = await sql<{ record_id: string }>`
        SELECT record_id FROM ${this.byKey(this.tables.outbox)}
        WHERE ${this.#leases(chunk)} AND state = 'pending'
        ${this.#forUpdate()}`.execute(db);
      held.push(...rows.map((r) => r.record_id));
    }
    return held;
  }

  /** Sets `lease_until` of the leases still held under their tokens. */
  async extendLeases(db: SqlDb, leases: readonly { recordId: string; leaseToken: string }[], until: number) {
    for (const chunk of this.listChunks(leases, (l) => l.recordId + l.leaseToken))
      await sql`
        UPDATE ${this.byKey(this.tables.outbox)} SET lease_until = ${until}
        WHERE ${this.#leases(chunk)} AND state = 'pending'`.execute(db);
  }

  /** Gives back the leases still held under their tokens, claimable at `retryAt` (`inDoubt`: see `IN_DOUBT` in core). */
  async releaseLeases(
    db: SqlDb,
    leases: readonly { recordId: string; leaseToken: string }[],
    retryAt: number,
    inDoubt = false,
  ) {
    // In doubt: `lease_until` stays set (0, long expired), the mark of a write that may still land (`IN_DOUBT`).
    const until = inDoubt ? sql`0` : sql`NULL`;
    for (const chunk of this.listChunks(leases, (l) => l.recordId + l.leaseToken))
      await sql`
        UPDATE ${this.byKey(this.tables.outbox)}
        SET next_attempt_at = ${retryAt}, lease_owner = NULL, lease_token = NULL, lease_until = ${until},
          lease_version = NULL
        WHERE ${this.#leases(chunk)}`.execute(db);
  }

  /** Clears the leases taken under one of `owners` (see `RelationalStore.releaseClaims`); how many. */
  async releaseClaims(db: SqlDb, owners: readonly string[]): Promise<number> {
    const result = await sql`
      UPDATE ${this.tables.outbox}
      SET lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL
      WHERE lease_owner IN (${sql.join(owners)})`.execute(db);
    return Number(result.numAffectedRows ?? 0);
  }

  /**
   * Rows held under one of `leases`: tokens are random UUIDs, one per lease, so a token in the list is that
   * lease; the id list keeps the lookup on the primary key.
   */
  #leases(leases: readonly { recordId: string; leaseToken: string }[]): RawBuilder<unknown> {
    return sql`record_id IN (${sql.join(leases.map((l) => l.recordId))})
      AND lease_token IN (${sql.join(leases.map((l) => l.leaseToken))})`;
  }

  async updateOutboxRow(db: SqlDb, recordId: string, patch: LedgerOutboxPatch): Promise<void> {
    const sets = Object.entries(patch).map(
      ([key, value]) => sql`${sql.ref(OUTBOX_COLUMNS[key as keyof LedgerOutboxPatch])} = ${value}`,
    );
    if (sets.length === 0) return;
    await sql`UPDATE ${this.tables.outbox} SET ${sql.join(sets)} WHERE record_id = ${recordId}`.execute(db);
  }

  async deleteOutboxRow(db: SqlDb, recordId: string): Promise<void> {
    await sql`DELETE FROM ${this.tables.outbox} WHERE record_id = ${recordId}`.execute(db);
  }

  async listDeadLetters(db: SqlDb, after: string | undefined, limit: number): Promise<OutboxEntry[]> {
    const { rows } = await sql<OutboxRow>`
      SELECT * FROM ${this.tables.outbox}
      WHERE state = 'dead' ${after === undefined ? sql`` : sql`AND record_id > ${after}`}
      ORDER BY record_id LIMIT ${limit}`.execute(db);
    return rows.map(toOutboxEntry);
  }

  /** Moves dead letters (all, or `ids`) back to pending: attempts 0, `next_attempt_at = enqueued_at = now`. */
  async requeueDeadLetters(db: SqlDb, ids: readonly string[] | undefined, now: number): Promise<number> {
    const update = (where: RawBuilder<unknown>) => sql`
      UPDATE ${this.byKey(this.tables.outbox)}
      SET state = 'pending', attempts = 0, next_attempt_at = ${now}, enqueued_at = ${now},
        lease_owner = NULL, lease_token = NULL, lease_until = NULL, lease_version = NULL
      WHERE state = 'dead' ${where}`;
    if (ids === undefined) return Number((await update(sql``).execute(db)).numAffectedRows ?? 0n);
    let n = 0;
    for (const chunk of this.listChunks([...new Set(ids)], (id) => id))
      n += Number(
        (await update(sql`AND record_id IN (${sql.join(chunk)})`).execute(db)).numAffectedRows ?? 0n,
      );
    return n;
  }

  async outboxStats(db: SqlDb, now: number): Promise<Required<OutboxStats>> {
    const { rows } = await sql<{
      depth: SqlInt | null;
      in_flight: SqlInt | null;
      dead: SqlInt | null;
      oldest: SqlInt | null;
      deletes: SqlInt | null;
      lowest: SqlInt | null;
    }>`
      SELECT
        sum(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS depth,
        sum(CASE WHEN state = 'pending' AND lease_until > ${now} THEN 1 ELSE 0 END) AS in_flight,
        sum(CASE WHEN state = 'dead' THEN 1 ELSE 0 END) AS dead,
        min(CASE WHEN state = 'pending' THEN enqueued_at END) AS oldest,
        sum(CASE WHEN op = 'delete' THEN 1 ELSE 0 END) AS deletes,
        min(CASE WHEN state = 'pending' THEN version END) AS lowest
      FROM ${this.tables.outbox}`.execute(db);
    const r = rows[0];
    return {
      depth: int(r?.depth ?? 0),
      inFlight: int(r?.in_flight ?? 0),
      deadLetters: int(r?.dead ?? 0),
      oldestPendingAt: intOrNull(r?.oldest),
      deletes: int(r?.deletes ?? 0),
      lowestPendingVersion: intOrNull(r?.lowest),
    };
  }

  async maxPendingVersion(db: SqlDb): Promise<number | null> {
    const { rows } = await sql<{ v: SqlInt | null }>`
      SELECT max(version) AS v FROM ${this.tables.outbox} WHERE state = 'pending'`.execute(db);
    return intOrNull(rows[0]?.v);
  }

  async recentlySynced(
    db: SqlDb,
    limit: number,
    above: number,
    order: SyncedOrder,
  ): Promise<SyncedVersion[]> {
    const { rows } = await sql<{ id: string; v: SqlInt }>`
      SELECT id, synced_version AS v FROM ${this.tables.records}
      WHERE deleted = ${this.traits.bool(false)} AND synced_version > ${above}
        AND id NOT IN (SELECT record_id FROM ${this.tables.outbox})
      ORDER BY synced_version ${sql.raw(order === 'lowest-first' ? 'ASC' : 'DESC')} LIMIT ${limit}`.execute(
      db,
    );
    return rows.map((r) => ({ id: r.id, syncedVersion: int(r.v) }));
  }

  // -- intents -------------------------------------------------------------------------------------

  async putIntent(db: SqlDb, intent: TwoPhaseIntent): Promise<void> {
    await sql`
      INSERT INTO ${this.tables.intents} (token, record_id, version, expires_at)
      VALUES (${intent.token}, ${intent.recordId}, ${intent.version}, ${intent.expiresAt})`.execute(db);
  }

  async countIntents(db: SqlDb, recordId: string): Promise<number> {
    const { rows } = await sql<{ n: SqlInt }>`
      SELECT count(*) AS n FROM ${this.tables.intents} WHERE record_id = ${recordId}`.execute(db);
    return int(rows[0]?.n ?? 0);
  }

  /** Deletes the intent; `false` when it was not there. */
  async deleteIntent(db: SqlDb, token: string): Promise<boolean> {
    const result = await sql`DELETE FROM ${this.tables.intents} WHERE token = ${token}`.execute(db);
    return (result.numAffectedRows ?? 0n) > 0n;
  }

  async listExpiredIntents(db: SqlDb, now: number, limit: number): Promise<TwoPhaseIntent[]> {
    const { rows } = await sql<IntentRow>`
      SELECT * FROM ${this.tables.intents} WHERE expires_at <= ${now}
      ORDER BY expires_at, token LIMIT ${limit}`.execute(db);
    return rows.map(toIntent);
  }

  /**
   * Deletes the settled tombstones among `ids`, looked up by primary key. A row a concurrent write brought back
   * to life, or deleted again at a newer version, fails the conditions as it is deleted (PostgreSQL re-evaluates
   * them on the row's newest version; MySQL and SQLite read it under the write lock) and is kept.
   */
  async purgeTombstones(db: SqlDb, ids: readonly string[]): Promise<number> {
    const { records, outbox, intents } = this.tables;
    let purged = 0;
    for (const chunk of this.listChunks(ids, (id) => id)) {
      const result = await this.deleteKeys(
        records,
        'id',
        chunk,
        sql`deleted = ${this.traits.bool(true)} AND synced_version = version
          AND NOT EXISTS (SELECT 1 FROM ${outbox} WHERE ${outbox}.record_id = ${records}.id)
          AND NOT EXISTS (SELECT 1 FROM ${intents} WHERE ${intents}.record_id = ${records}.id)`,
      ).execute(db);
      purged += Number(result.numAffectedRows ?? 0);
    }
    return purged;
  }

  // -- embedding cache and meta --------------------------------------------------------------------

  /**
   * Cached embeddings by key, and the keys among them last marked used before `staleBefore` (Unix ms; none
   * when not given).
   */
  async getCachedEmbeddings(
    db: SqlDb,
    keys: readonly string[],
    staleBefore?: number,
  ): Promise<{ found: Map<string, number[]>; stale: string[] }> {
    const found = new Map<string, number[]>();
    const stale: string[] = [];
    for (const chunk of this.listChunks([...new Set(keys)], (key) => key)) {
      const { rows } = await sql<{ key: string; embedding: Uint8Array; used_at: number | string }>`
        SELECT ${sql.ref('key')}, embedding, used_at FROM ${this.tables.cache}
        WHERE ${sql.ref('key')} IN (${sql.join(chunk)})`.execute(db);
      for (const row of rows) {
        found.set(row.key, decodeEmbedding(row.embedding));
        if (staleBefore !== undefined && Number(row.used_at) < staleBefore) stale.push(row.key);
      }
    }
    return { found, stale };
  }

  /**
   * Marks the entries of `keys` last used before `staleBefore` as used at `usedAt` (Unix ms), in key order
   * (see {@link cacheKeyOrder}).
   */
  async refreshCachedEmbeddings(
    db: SqlDb,
    keys: readonly string[],
    usedAt: number,
    staleBefore: number,
  ): Promise<void> {
    for (const chunk of this.listChunks(cacheKeyOrder(keys), (key) => key))
      await sql`UPDATE ${this.tables.cache} SET used_at = ${Math.floor(usedAt)}
        WHERE ${sql.ref('key')} IN (${sql.join(chunk)}) AND used_at < ${Math.ceil(staleBefore)}`.execute(db);
  }

  /**
   * Inserts or replaces cache entries marked used at `usedAt` (Unix ms), in key order (see {@link cacheKeyOrder}),
   * a chunk per statement (a key given twice: the last one wins).
   */
  async putCachedEmbeddings(
    db: SqlDb,
    entries: readonly { key: string; embedding: readonly number[] }[],
    usedAt: number,
  ): Promise<void> {
    const byKey = new Map<string, readonly number[]>();
    for (const e of entries) {
      byKey.delete(e.key);
      byKey.set(e.key, e.embedding);
    }
    const mark = Math.floor(usedAt);
    for (const chunk of this.chunks(
      cacheKeyOrder([...byKey.keys()]).map((key) => [key, byKey.get(key)!] as const),
      ([key]) => key,
      ([, e]) => 4 * e.length,
    ))
      await sql`
        ${this.insertInto(this.tables.cache)} (${sql.ref('key')}, embedding, used_at)
        VALUES ${sql.join(chunk.map(([key, e]) => sql`(${key}, ${embeddingBytes(e)}, ${mark})`))}
        ${this.onConflict('key')} embedding = ${this.inserted('embedding')}, used_at = ${this.inserted('used_at')}`.execute(
        db,
      );
  }

  /**
   * Deletes up to `limit` entries last used before `usedBefore` (Unix ms), oldest first: their keys by the
   * `used_at` index, locked as read and skipping rows another session holds (`FOR UPDATE SKIP LOCKED` where rows
   * lock: concurrent prunes of several processes deadlocked on PostgreSQL, their deletes meeting the same rows in
   * different orders), then those rows in key order (see {@link cacheKeyOrder}) unless marked used again
   * meanwhile (a `DELETE … LIMIT` is not portable).
   * @returns how many it deleted.
   */
  async pruneCachedEmbeddings(db: SqlDb, usedBefore: number, limit: number): Promise<number> {
    const before = Math.ceil(usedBefore);
    const { rows } = await sql<{ key: string }>`
      SELECT ${sql.ref('key')} FROM ${this.tables.cache} WHERE used_at < ${before}
      ORDER BY used_at LIMIT ${limit} ${this.#skipLocked()}`.execute(db);
    let deleted = 0;
    for (const chunk of this.listChunks(cacheKeyOrder(rows.map((r) => r.key)), (key) => key)) {
      const result = await this.deleteKeys(this.tables.cache, 'key', chunk, sql`used_at < ${before}`).execute(
        db,
      );
      deleted += Number(result.numAffectedRows ?? 0);
    }
    return deleted;
  }

  async getMeta(db: SqlDb, key: string): Promise<string | undefined> {
    const rows = await this.rowsOf(
      db,
      sql<{ value: string }>`SELECT value FROM ${this.tables.meta} WHERE ${sql.ref('key')} = ${key}`,
    );
    return rows[0]?.value;
  }

  /** Stores `value` under `key` unless it holds one (an upsert that keeps the existing value); returns the value held. */
  async insertMeta(db: SqlDb, key: string, value: string): Promise<string> {
    await sql`
      ${this.insertInto(this.tables.meta)} (${sql.ref('key')}, value) VALUES (${key}, ${value})
      ${this.onConflict('key')} value = ${this.existing('value')}`.execute(db);
    return (await this.getMeta(db, key)) ?? value;
  }

  async setMeta(db: SqlDb, key: string, value: string | null): Promise<void> {
    if (value === null)
      await sql`DELETE FROM ${this.tables.meta} WHERE ${sql.ref('key')} = ${key}`.execute(db);
    else
      await sql`
        ${this.insertInto(this.tables.meta)} (${sql.ref('key')}, value) VALUES (${key}, ${value})
        ${this.onConflict('key')} value = ${this.inserted('value')}`.execute(db);
  }
}

/**
 * Cache keys, distinct, in core's id order (`compareIds`; for keys of one embedder — its id and a hex hash — also
 * the primary key's order in every dialect): the order every cache write locks its rows in. Puts, refreshes and
 * prunes of several processes meeting on the same keys otherwise locked them in different orders and deadlocked
 * (a break-it round on PostgreSQL: 1–16 deadlocks per 10,000 puts, some failing the caller's `put`).
 */
export function cacheKeyOrder(keys: readonly string[]): string[] {
  return [...new Set(keys)].sort(compareIds);
}
