/**
 * The MySQL dialect's own SQL behind {@link MysqlRelationalStore} (the statements every dialect shares come
 * from `SqlQueries` of `@dualwrite/sql`): the upsert spelling, lock slots, the version sequence and the claim's
 * locking clause. Values are always bound; identifiers come only from the validated prefix.
 * @internal
 */
import { createHash } from 'node:crypto';
import { int, type RecordLocking, type RecordRow, type SqlInt, SqlQueries, sqlTables } from '@dualwrite/sql';
import { type RawBuilder, sql } from 'kysely';
import { LOCK_SLOTS } from './mysql-migrations.js';
import type { MysqlKysely, MysqlTableNames } from './mysql-relational-store-options.js';

type Db = MysqlKysely;

/** Prune the sequence's rows every this many versions (keeping the newest). */
const SEQUENCE_PRUNE_EVERY = 1_024;

/** The session variable holding the `i`-th version a message drew. */
const version = (i: number) => sql.raw(`@dw_v${i}`);

/** Whether `versions` (drawn by one write) passed a multiple of SEQUENCE_PRUNE_EVERY. */
function crossesPrune(versions: readonly number[]): boolean {
  const [low, high] = [Math.min(...versions), Math.max(...versions)];
  return Math.floor(high / SEQUENCE_PRUNE_EVERY) > Math.floor((low - 1) / SEQUENCE_PRUNE_EVERY);
}

/**
 * Whether `error` is a locking read's refusal to wait (`NOWAIT`): MySQL 8 says `ER_LOCK_NOWAIT`, MariaDB
 * `ER_LOCK_WAIT_TIMEOUT` (MariaDB docs, "WAIT and NOWAIT").
 */
export function isLockRefusal(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ER_LOCK_NOWAIT' || code === 'ER_LOCK_WAIT_TIMEOUT';
}

/** SQL for the store's tables under one prefix. */
export class MysqlQueries extends SqlQueries {
  readonly #sequence: RawBuilder<unknown>;
  readonly #slots: RawBuilder<unknown>;
  /** The table prefix (the write procedure's name starts with it). */
  readonly #prefix: string;

  constructor(names: MysqlTableNames) {
    super(
      sqlTables(names),
      // READ COMMITTED: a read-modify-write of an outbox row locks it.
      { bool: (value) => (value ? 1 : 0), lockRowsForUpdate: true },
    );
    this.#sequence = sql.table(names.versionSequence);
    this.#slots = sql.table(names.lockSlots);
    this.#prefix = names.records.slice(0, -'records'.length);
  }

  // -- the upsert as MySQL spells it: no target alias, assignments applied left to right --------------

  protected override insertInto(table: RawBuilder<unknown>): RawBuilder<unknown> {
    return sql`INSERT INTO ${table}`;
  }

  protected override onConflict(): RawBuilder<unknown> {
    return sql`ON DUPLICATE KEY UPDATE`;
  }

  protected override inserted(column: string): RawBuilder<unknown> {
    return sql`VALUES(${sql.ref(column)})`;
  }

  protected override existing(column: string): RawBuilder<unknown> {
    return sql.ref(column);
  }

  /** By bytes: the columns' `utf8mb4_bin` is a PAD SPACE collation, where `'a' = 'a '`. */
  protected override sameText(a: RawBuilder<unknown>, b: RawBuilder<unknown>): RawBuilder<unknown> {
    return sql`CAST(${a} AS BINARY) = CAST(${b} AS BINARY)`;
  }

  /** Forces the primary key index for statements that lock by key (see `SqlQueries.byKey`). */
  protected override byKey(table: RawBuilder<unknown>): RawBuilder<unknown> {
    return sql`${table} FORCE INDEX (PRIMARY)`;
  }

  /**
   * The keys as a derived table joined to `table` in that order (`STRAIGHT_JOIN`, on its primary key — without
   * the hint a condition beside the keys turned the join into a scan): one primary-key lookup per key (EXPLAIN:
   * `eq_ref`), so the DELETE reads and locks only the keys' rows. An `IN` list is not enough: on a table of a
   * few rows MariaDB 10.11 scans it even under `FORCE INDEX (PRIMARY)` (EXPLAIN: `ALL`), and a locking scan
   * waits for rows other transactions wrote and have not committed. An ack holding its ids' locks waited so for
   * a `dw.transaction`'s new row, that transaction then deadlocked on one of those ids, and one open
   * transaction held up every other id's ack for the lock timeout (found by a break-it round). The keys compare
   * with the column's own collation (binary for ids: `'a'` never deletes `'A'`, nor `'x'` `'x '`).
   */
  override deleteKeys(
    table: RawBuilder<unknown>,
    column: string,
    keys: readonly unknown[],
    condition?: RawBuilder<unknown>,
  ): RawBuilder<unknown> {
    const rows = keys.map((key, i) => (i === 0 ? sql`SELECT ${key} AS k` : sql`SELECT ${key}`));
    return sql`DELETE ${table} FROM (${sql.join(rows, sql` UNION ALL `)}) AS dw_keys
      STRAIGHT_JOIN ${table} FORCE INDEX (PRIMARY) ON ${table}.${sql.ref(column)} = dw_keys.k
      ${condition ? sql`WHERE ${condition}` : sql``}`;
  }

  // -- per-record locks ----------------------------------------------------------------------------

  override readonly locksRecords = true;

  /** The lock slot of record `id`: 16 bits of SHA-256 of the id. Ids sharing a slot merely serialise. */
  slot(id: string): number {
    return createHash('sha256').update(id).digest().readUInt16BE(0) % LOCK_SLOTS;
  }

  #slotsOf(ids: readonly string[]): number[] {
    return [...new Set(ids.map((id) => this.slot(id)))].sort((a, b) => a - b);
  }

  /**
   * Locks the slot rows of `ids` (`SELECT … FOR UPDATE`, held until COMMIT/ROLLBACK), in ascending slot order.
   * Every read-modify-write of an id takes its slot first, so writers of one id run one after the other —
   * also for an id with no row yet, which a row lock on `records` could not cover under READ COMMITTED.
   */
  override async lockRecords(db: Db, ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.#lockSlots(ids, sql`FOR UPDATE`).execute(db);
  }

  /** The locking read of the slot rows of `ids`, in ascending slot order, with `clause`. */
  #lockSlots(ids: readonly string[], clause: RawBuilder<unknown>): RawBuilder<unknown> {
    return sql`SELECT slot FROM ${this.byKey(this.#slots)} WHERE slot IN (${sql.join(this.#slotsOf(ids))})
      ORDER BY slot ${clause}`;
  }

  /**
   * The id's slot lock and its row in one statement: an InnoDB locking read (`FOR UPDATE`) reads the latest
   * committed row once the slot is granted, not the statement's snapshot. Locks the record row too (the
   * caller is about to write it). The records table is not aliased: the store's `typeCast` reads ids as text
   * by table name.
   */
  override async lockAndGetRecord(db: Db, id: string): Promise<RecordRow | undefined> {
    const { rows } = await sql<RecordRow & { slot: number }>`
      SELECT ${this.tables.records}.* FROM ${this.byKey(this.#slots)}
      LEFT JOIN ${this.tables.records} ON ${this.tables.records}.id = ${id}
      WHERE slot = ${this.slot(id)} FOR UPDATE`.execute(db);
    const row = rows[0];
    return row === undefined || row.id === null ? undefined : row;
  }

  /** {@link lockRecords} without waiting (`FOR UPDATE NOWAIT`); `false` when a slot is held elsewhere. */
  async tryLockRecords(db: Db, ids: readonly string[]): Promise<boolean> {
    try {
      await this.#lockSlots(ids, sql`FOR UPDATE NOWAIT`).execute(db);
      return true;
    } catch (error) {
      if (isLockRefusal(error)) return false;
      throw error;
    }
  }

  // -- batch writes (see `mysql-batch-write.ts`) and the write procedure (`mysql-write-procedure.ts`) ------

  /**
   * The rows of `ids` whose slots this transaction holds. Not a locking read: a locking read of an absent key
   * takes a next-key lock on the index's end in MariaDB, and two such batches inserting new ids deadlocked.
   * The slot locks already serialise the writers of these ids, and this statement starts after they are
   * granted, so under READ COMMITTED it sees every committed write of them.
   */
  rowsOfLocked(ids: readonly string[]): RawBuilder<unknown> {
    return sql`SELECT * FROM ${this.tables.records} WHERE id IN (${sql.join(ids)})`;
  }

  /** Which of `ids` have an outbox entry (pending or dead). */
  #queued(ids: readonly string[]): RawBuilder<unknown> {
    return sql`SELECT record_id FROM ${this.tables.outbox} WHERE record_id IN (${sql.join(ids)})`;
  }

  /**
   * The write procedure (see `callWriteProcedure`): one change to one id in one call, what core's `planOne`
   * decides in memory on the other paths decided in SQL, by bytes (equal metadata is one JSON text and `0`/`-0`
   * one float32 spelling, see `metadataJson` and `embeddingBytes`). In its own transaction: the id's slot
   * lock (waited for: one id's write never holds another lock; MariaDB allows no `NOWAIT` in a procedure),
   * then — a statement that starts once the lock is granted, so under READ COMMITTED it sees every committed
   * write of the id — the live row's version and whether the change writes; if it does, a version
   * ({@link #drawVersion}), the record and outbox upserts (a put without an embedding keeps the stored one when
   * its text is unchanged: `recordUpsert`); COMMIT; and one row answering `w` (writes), `d` (the version drawn)
   * and `l` (the live row's version). `SQL SECURITY INVOKER`: it runs with the caller's
   * privileges. Its name ends with a digest of its SQL, so a release that changes the SQL installs a procedure
   * of its own beside the one older processes call.
   * @returns the procedure's name and its `CREATE PROCEDURE` statement (binding no value).
   */
  writeProcedure(db: Db): { name: string; create: string } {
    const p = (name: string) => sql.raw(`p_${name}`);
    const [live, writes, drawn] = [sql.raw('v_live'), sql.raw('v_writes'), sql.raw('v_version')];
    const [id, text, embedding, metadata, deleted, now] = [
      'id',
      'text',
      'embedding',
      'metadata',
      'deleted',
      'now',
    ].map(p);
    const differs = sql`${deleted!} OR NOT (${this.sameText(sql.ref('text'), text!)}
      AND ${this.sameText(sql.ref('metadata'), metadata!)} AND (NOT ${p('compares_embedding')} OR embedding <=> ${embedding!}))`;
    const values = [
      id,
      text,
      embedding,
      metadata,
      drawn,
      deleted,
      p('content_hash'),
      p('synced_version'),
      now,
      now,
    ];
    const op = sql`IF(${deleted!}, 'delete', 'upsert')`;
    const body = sql`(IN p_slot INT, IN p_id VARBINARY(1536),
        IN p_text LONGTEXT CHARACTER SET utf8mb4, IN p_embedding LONGBLOB, IN p_metadata LONGTEXT CHARACTER SET utf8mb4,
        IN p_deleted TINYINT, IN p_content_hash VARCHAR(255) CHARACTER SET utf8mb4, IN p_synced_version BIGINT,
        IN p_now BIGINT, IN p_compares_embedding TINYINT)
      MODIFIES SQL DATA SQL SECURITY INVOKER
      BEGIN
        DECLARE v_slot INT;
        DECLARE ${live}, ${drawn} BIGINT DEFAULT NULL;
        DECLARE ${writes} TINYINT DEFAULT 1 - ${deleted!};
        DECLARE CONTINUE HANDLER FOR NOT FOUND BEGIN END;
        START TRANSACTION;
        SELECT slot INTO v_slot FROM ${this.byKey(this.#slots)} WHERE slot = ${p('slot')} FOR UPDATE;
        SELECT version, ${differs} INTO ${live}, ${writes}
          FROM ${this.tables.records} WHERE id = ${id!} AND deleted = ${sql.lit(this.traits.bool(false))};
        IF ${writes} THEN
          ${sql.join(
            this.#drawVersion(drawn),
            sql`;
`,
          )};
          ${this.recordUpsert(sql`VALUES (${sql.join(values)})`, { keepEmbedding: true })};
          ${this.outboxUpsert(sql`VALUES ${this.pendingOutboxRow(id, drawn, op, now)}`)};
        END IF;
        COMMIT;
        SELECT ${writes} AS w, ${drawn} AS d, ${live} AS l;
      END`.compile(db);
    if (body.parameters.length > 0) throw new Error('the write procedure must not bind values');
    const name = `${this.#prefix}write_${createHash('sha256').update(body.sql).digest('hex').slice(0, 12)}`;
    return { name, create: `CREATE PROCEDURE ${sql.id(name).compile(db).sql} ${body.sql}` };
  }

  /**
   * The statements of a batch write's second message: a version per row (one `AUTO_INCREMENT` insert each,
   * kept in a session variable: a multi-row insert's values need not be consecutive), the record and outbox
   * upserts with those versions, the versions, and COMMIT after the last chunk of a batch.
   */
  batchWrite(
    rows: readonly { values: unknown[]; op: string }[],
    now: number,
    commit: boolean,
  ): RawBuilder<unknown>[] {
    return [
      ...this.#drawVersions(rows.length),
      this.recordUpsert(
        sql`VALUES ${sql.join(rows.map(({ values }, i) => sql`(${sql.join([...values.slice(0, 4), version(i), ...values.slice(5)])})`))}`,
      ),
      this.outboxUpsert(
        sql`VALUES ${sql.join(rows.map(({ values, op }, i) => this.pendingOutboxRow(values[0], version(i), op, now)))}`,
      ),
      this.#selectVersions(rows.length),
      ...(commit ? [sql`COMMIT`] : []),
    ];
  }

  /**
   * A version for each of `n` rows: one `AUTO_INCREMENT` insert each, kept in the session variable `@dw_v<i>`
   * (a multi-row insert's values need not be consecutive). The old rows are pruned after the write
   * ({@link pruneDue}, {@link pruneSequence}), not in it: a DELETE of a range waits for every row of it
   * another transaction holds.
   */
  #drawVersions(n: number): RawBuilder<unknown>[] {
    return Array.from({ length: n }, (_, i) => this.#drawVersion(version(i))).flat();
  }

  /** One version from the `AUTO_INCREMENT` sequence, into the variable `into` (two statements). */
  #drawVersion(into: RawBuilder<unknown>): RawBuilder<unknown>[] {
    return [sql`INSERT INTO ${this.#sequence} () VALUES ()`, sql`SET ${into} = LAST_INSERT_ID()`];
  }

  /** The highest `version DIV SEQUENCE_PRUNE_EVERY` this store has drawn (see {@link pruneDue}). */
  #pruneMark: number | undefined;

  /**
   * Whether the write that drew `versions` should prune the sequence ({@link pruneSequence}): its versions passed
   * a multiple of SEQUENCE_PRUNE_EVERY, or this store's versions did since its previous write — whatever the
   * step between versions. (With `auto_increment_increment` > 1, as Galera sets it, a single put's version is
   * rarely a multiple itself: the table grew without bound, found by a break-it round.)
   */
  pruneDue(versions: readonly number[]): boolean {
    if (versions.length === 0) return false;
    const mark = Math.floor(Math.max(...versions) / SEQUENCE_PRUNE_EVERY);
    const passed = this.#pruneMark !== undefined && mark > this.#pruneMark;
    this.#pruneMark = Math.max(mark, this.#pruneMark ?? mark);
    return passed || crossesPrune(versions);
  }

  /**
   * Deletes the sequence's rows below `newest - SEQUENCE_PRUNE_EVERY` that no other transaction holds, without
   * waiting for one: they are read `FOR UPDATE SKIP LOCKED`, then deleted by key ({@link deleteKeys}). A plain
   * `DELETE … WHERE id < n` scans a small table (and locks the range of a large one): inside a write holding
   * its ids' locks it waited for an application transaction's uncommitted version row and deadlocked with it
   * (found by a break-it round). A row skipped now goes with the next prune.
   */
  async pruneSequence(db: Db, newest: number): Promise<void> {
    const { rows } = await sql<{ id: SqlInt }>`
      SELECT id FROM ${this.#sequence} WHERE id < ${newest - SEQUENCE_PRUNE_EVERY}
      ORDER BY id LIMIT ${2 * SEQUENCE_PRUNE_EVERY} FOR UPDATE SKIP LOCKED`.execute(db);
    if (rows.length > 0)
      await this.deleteKeys(
        this.#sequence,
        'id',
        rows.map((r) => r.id),
      ).execute(db);
  }

  /** The versions {@link #drawVersions} drew, as one row with columns `v0`, `v1`, … */
  #selectVersions(n: number): RawBuilder<unknown> {
    return sql`SELECT ${sql.join(Array.from({ length: n }, (_, i) => sql`${version(i)} AS ${sql.ref(`v${i}`)}`))}`;
  }

  // -- sync-2pc in few round trips (see `mysql-two-phase.ts`) -------------------------------------------

  /**
   * BEGIN and the slot locks of `ids` (all of them, in slot order), the start of the batch writes; with
   * `'try'` the locking read does not wait (`NOWAIT`) and fails with a {@link isLockRefusal} error instead.
   */
  beginLocked(ids: readonly string[], locking: RecordLocking): RawBuilder<unknown>[] {
    return [
      sql`START TRANSACTION`,
      this.#lockSlots(ids, locking === 'wait' ? sql`FOR UPDATE` : sql`FOR UPDATE NOWAIT`),
    ];
  }

  /**
   * sync-2pc's prepare of some of the locked ids (`prepareIntentsInTx`'s statements, in one go): their rows,
   * the ids that have an outbox entry, a version each, the intents, and the versions (the last statement).
   */
  prepareChunk(ids: readonly string[], tokens: readonly string[], expiresAt: number): RawBuilder<unknown>[] {
    return [
      this.rowsOfLocked(ids),
      this.#queued(ids),
      ...this.#drawVersions(ids.length),
      sql`INSERT INTO ${this.tables.intents} (token, record_id, version, expires_at)
        VALUES ${sql.join(ids.map((id, i) => sql`(${tokens[i]}, ${id}, ${version(i)}, ${expiresAt})`))}`,
      this.#selectVersions(ids.length),
    ];
  }

  /**
   * What sync-2pc's commit reads of some of the locked ids: each write's intent deleted (its affected rows tell
   * whether it was still there; one statement per token, positions `0..n-1`), then the ids' versions, tombstone
   * flags and synced versions (`n`), the ids with an outbox entry (`n + 1`) and the number of intents left per
   * id (`n + 2`).
   */
  commitReadChunk(ids: readonly string[], tokens: readonly string[]): RawBuilder<unknown>[] {
    return [
      ...tokens.map((token) => this.deleteIntents([token])),
      sql`SELECT id, version, deleted, synced_version FROM ${this.tables.records} WHERE id IN (${sql.join(ids)})`,
      this.#queued(ids),
      sql`SELECT record_id, count(*) AS n FROM ${this.tables.intents}
        WHERE record_id IN (${sql.join(ids)}) GROUP BY record_id`,
    ];
  }

  /** Deletes the intents `tokens`. */
  deleteIntents(tokens: readonly string[]): RawBuilder<unknown> {
    return this.deleteKeys(this.tables.intents, 'token', tokens);
  }

  /** A message of sync-2pc's commit writes: record rows (their `recordValues`), outbox entries, and COMMIT. */
  commitWrite(
    records: readonly (readonly unknown[])[],
    enqueues: readonly { id: string; version: number; op: string }[],
    now: number,
    commit: boolean,
  ): RawBuilder<unknown>[] {
    return [
      ...(records.length > 0
        ? [this.recordUpsert(sql`VALUES ${sql.join(records.map((values) => sql`(${sql.join(values)})`))}`)]
        : []),
      ...(enqueues.length > 0
        ? [
            this.outboxUpsert(
              sql`VALUES ${sql.join(enqueues.map(({ id, version, op }) => this.pendingOutboxRow(id, version, op, now)))}`,
            ),
          ]
        : []),
      ...(commit ? [sql`COMMIT`] : []),
    ];
  }

  // -- versions ------------------------------------------------------------------------------------

  /**
   * Draws a version `> atLeast` from `AUTO_INCREMENT`: InnoDB hands each insert a new value without holding a
   * lock until commit, and never hands it out again, even if the transaction rolls back (like a PostgreSQL
   * sequence). When the draw is not above `atLeast` (a restored database), inserts `atLeast + 1` explicitly,
   * which moves the counter past it; if another session holds that value, draws again. Every
   * {@link SEQUENCE_PRUNE_EVERY} versions the rows below the newest are pruned.
   */
  async nextVersion(db: Db, atLeast: number): Promise<number> {
    for (;;) {
      const drawn = int(
        (await sql`INSERT INTO ${this.#sequence} () VALUES ()`.execute(db)).insertId as SqlInt,
      );
      if (this.pruneDue([drawn])) await this.pruneSequence(db, drawn);
      if (drawn > atLeast) return drawn;
      try {
        await sql`INSERT INTO ${this.#sequence} (id) VALUES (${atLeast + 1})`.execute(db);
        return atLeast + 1;
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'ER_DUP_ENTRY') throw error;
      }
    }
  }

  /** The server's clock at the call (`SYSDATE(3)`, not the statement's start), Unix ms; a DECIMAL, sent as text. */
  protected override clockQuery() {
    return sql<{ t: string }>`SELECT UNIX_TIMESTAMP(SYSDATE(3)) * 1000 AS t`;
  }

  /** Highest version among the sequence's committed rows (0 when none). */
  async currentVersion(db: Db): Promise<number> {
    const { rows } = await sql<{ v: SqlInt | null }>`SELECT max(id) AS v FROM ${this.#sequence}`.execute(db);
    return int(rows[0]?.v ?? 0);
  }
}
