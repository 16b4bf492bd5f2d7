import {
  type Change,
  changeId,
  type IntentCommit,
  type IntentCommitOptions,
  MAX_TIMER_MS,
  type PreparedIntent,
  ValidationError,
  type WriteResult,
} from '@dualwrite/core';
import {
  int,
  SQL_MAX_PAGE,
  type SqlInt,
  SqlRelationalStore,
  type SqlTx,
  type SqlTxHooks,
} from '@dualwrite/sql';
import { CompiledQuery, Kysely, MysqlDialect, type MysqlDialectConfig, sql } from 'kysely';
import { createPool, type Pool, type TypeCastField, type TypeCastNext } from 'mysql2';
import {
  type MysqlBatchWriteContext,
  writeChangesInTwoRoundTrips,
  writeMessageBound,
  writeMessageBytes,
} from './mysql-batch-write.js';
import { MYSQL_COMPONENT, MYSQL_ERRORS } from './mysql-errors.js';
import { discardAfterFailedRollback } from './mysql-failed-rollback.js';
import { migrateMysqlSchema } from './mysql-migrations.js';
import { assertTransactionOpen, markTransactionOpen } from './mysql-open-transaction.js';
import { MysqlQueries } from './mysql-queries.js';
import {
  type MysqlKysely,
  type MysqlRelationalStoreOptions,
  type MysqlTableNames,
  mysqlTableNames,
  type ResolvedMysqlRelationalStoreOptions,
  resolveMysqlOptions,
} from './mysql-relational-store-options.js';
import { commitIntentsInTwoRoundTrips, prepareIntentsInOneRoundTrip } from './mysql-two-phase.js';
import { callWriteProcedure, installWriteProcedure } from './mysql-write-procedure.js';

/** Max `limit` of the listing methods and of claims. */
export const MYSQL_MAX_PAGE = SQL_MAX_PAGE;

/**
 * How long a write message may run beyond its lock waits before the store takes its answer for lost, ms: the
 * connection is then closed, rolling its transaction back (`answerWithinMs` of the multi-statement writes: two
 * lock wait timeouts plus this).
 */
export const ANSWER_MARGIN_MS = 10_000;

/**
 * A mysql2 `typeCast` that reads the `VARBINARY` id and key columns of the store's own `tables` as UTF-8
 * strings (mysql2 returns binary strings as `Buffer`s); every other column, and the application's tables
 * queried on the same pool, keep mysql2's types.
 */
function storeIdsAsText(tables: ReadonlySet<string>): (field: TypeCastField, next: TypeCastNext) => unknown {
  return (field, next) => {
    // `field.table` is the name the query uses (mysql2 hands a typeCast no other): the store's queries never
    // alias its tables; an application query that does gets the ids as `Buffer`s.
    if (field.type !== 'VAR_STRING' || !tables.has(field.table)) return next();
    return field.buffer()?.toString('utf8') ?? null;
  };
}

/**
 * The `sql_mode` flags the store's SQL cannot run under: `NO_BACKSLASH_ESCAPES` (mysql2 escapes values with
 * backslashes), MariaDB's `EMPTY_STRING_IS_NULL` (a tombstone's text is `''`: every delete failed) and
 * `ORACLE` (`BEGIN` opens a PL/SQL block: every write failed). Found by a break-it trial on a server so set.
 */
const UNSAFE_MODES = ['NO_BACKSLASH_ESCAPES', 'EMPTY_STRING_IS_NULL', 'ORACLE'];

/** Removes {@link UNSAFE_MODES} from the session's `sql_mode` and keeps every other mode the server set. */
const WITHOUT_UNSAFE_MODES = `SET SESSION sql_mode = TRIM(BOTH ',' FROM ${UNSAFE_MODES.reduce(
  (modes, mode) => `REPLACE(${modes}, ',${mode},', ',')`,
  "CONCAT(',', @@SESSION.sql_mode, ',')",
)})`;

/**
 * `RelationalStore` on MySQL 8.0+ and MariaDB 10.6+ through Kysely's `MysqlDialect` and mysql2 — a dialect of
 * `SqlRelationalStore` (`@dualwrite/sql`), which holds the SQL and the outbox rules. Several processes may use
 * one database at once: API instances writing, drain workers claiming from one outbox.
 *
 * - **Transactions** run at READ COMMITTED (set explicitly) on one pooled connection; `tx.native` is Kysely's
 *   transaction, so application tables commit or roll back with the records and the outbox.
 * - **Per-record locks.** Every read-modify-write of an id first locks its slot row in `<prefix>lock_slots`
 *   (65,536 rows, the id's slot from a hash) with `SELECT … FOR UPDATE`, held until the transaction ends: writers
 *   of one id run one after the other, brand-new ids included. Multi-record store operations try the slots
 *   with `NOWAIT`, backing off, and past a short window wait for each busy slot alone (never while holding one).
 *   Ids sharing a slot (probability 1 / 65,536 per pair) wait for each other too: a transaction left open over
 *   N ids holds up writes and acks of about N / 65,536 of the other ids, for up to `lockTimeoutMs`.
 * - **Claims** lock due entries with `FOR UPDATE SKIP LOCKED`, so concurrent workers skip each other's rows.
 * - **Versions** come from `AUTO_INCREMENT` (see {@link MysqlQueries.nextVersion}): strictly increasing
 *   across sessions, never handed out twice.
 * - **Ids** are `VARBINARY`: exact, case-sensitive, trailing spaces kept, ordered by code point.
 * - **No notifications**: MySQL has no LISTEN/NOTIFY. Writers wake their own process's drainer directly;
 *   worker processes poll.
 *
 * Errors: deadlocks and lock wait timeouts → `TransientBackendError` (retry); a lost connection, shutdown,
 * missing database, denied access, full disk or read-only server → `BackendUnavailableError` (see
 * `mapMysqlError`); invalid options or limits → `ValidationError`; any call after {@link close} →
 * `ClosedError`. All carry `component: 'mysql'`.
 *
 * @example
 * ```ts
 * const store = new MysqlRelationalStore({ connectionString: 'mysql://app:secret@127.0.0.1:3306/app' });
 * const dw = await createDualWrite({ relational: store, vector, strategy: 'batch', embedder });
 * ```
 */
export class MysqlRelationalStore extends SqlRelationalStore<MysqlKysely> {
  /** `'mysql'` (MariaDB too). */
  readonly name = 'mysql';
  /** The names of the tables this store owns (after the prefix). */
  readonly tableNames: MysqlTableNames;

  readonly #options: ResolvedMysqlRelationalStoreOptions;
  protected readonly q: MysqlQueries;
  protected readonly errors = MYSQL_ERRORS;
  /** Ids are `VARBINARY(1536)`. */
  protected override readonly maxIdBytes = 1536;
  /** READ COMMITTED is set per connection (`open`), so BEGIN is one statement. */
  protected override readonly isolation = undefined;
  /** The pool under the Kysely instance (set by `open`), for the multi-statement write paths. */
  #pool: Pool | undefined;
  /** The Kysely dialect configuration `open` made (pool and session settings), for the migrator's instance. */
  #dialect: MysqlDialectConfig | undefined;
  /** The write procedure `init` installed, for a single write; none: two round trips (see {@link writeChanges}). */
  #writeProcedure: string | undefined;
  /** The server's `max_allowed_packet`, bytes (see {@link #maxPacket}). */
  #packet: number | undefined;

  /**
   * Validates the options; connects to nothing yet.
   * @throws {ValidationError} on invalid options (see {@link resolveMysqlOptions}).
   */
  constructor(options: MysqlRelationalStoreOptions) {
    super();
    this.#options = resolveMysqlOptions(options);
    this.tableNames = mysqlTableNames(this.#options.tablePrefix);
    this.q = new MysqlQueries(this.tableNames);
    // Until the server's `max_allowed_packet` is read (by `init`), the statements fit the smallest usual one.
    this.q.statementBytes = Math.floor(0.75 * 1024 * 1024);
  }

  /**
   * The server's clock now (`SYSDATE(3)`), Unix ms: every process of this source reads leases and intent
   * expiries on it (`RelationalStore.sourceTime`), whatever its own machine's clock says.
   * @throws {BackendUnavailableError} when the server cannot be reached.
   */
  sourceTime(): Promise<number> {
    return this.serverTime();
  }

  /**
   * Brings the store's tables up to date with Kysely migrations (under a named lock of the database and table
   * prefix, so several processes may start at once: see {@link migrateMysqlSchema}), and installs this
   * release's write procedure unless the database has it (see {@link installWriteProcedure}: needs the
   * `CREATE ROUTINE` privilege, else single writes take two round trips). Idempotent.
   * @throws {BackendUnavailableError} when the server cannot be reached or the database does not exist.
   * @throws {TransientBackendError} when another process held the migration lock past `lockTimeoutMs`.
   */
  async init(): Promise<void> {
    await this.read('init', async (db) => {
      await migrateMysqlSchema(this.#dialect!, this.tableNames, this.#options.lockTimeoutMs);
      this.#writeProcedure = await installWriteProcedure(db, this.q);
    });
    // The statements of the shared SQL (acks, leases, reads by id) are split to fit it.
    await this.#maxPacket();
  }

  /** The pool (no connection yet); each new connection gets the lock wait timeout and READ COMMITTED. */
  protected open(): MysqlKysely {
    const tables = new Set(Object.values(this.tableNames));
    // multipleStatements: `writeChanges` and sync-2pc's `prepareIntents`/`commitIntents` send each round trip as
    // one message (every value is bound; nothing is concatenated into SQL).
    const pool = createPool({
      ...this.#options.poolOptions,
      multipleStatements: true,
      typeCast: storeIdsAsText(tables),
    });
    discardAfterFailedRollback(pool);
    this.#pool = pool;
    const session = this.sessionSettings();
    this.#dialect = {
      pool,
      onCreateConnection: async (connection) => {
        for (const statement of session) await connection.executeQuery(CompiledQuery.raw(statement));
      },
    };
    return new Kysely<unknown>({ dialect: new MysqlDialect(this.#dialect), ...this.rollbackWatch });
  }

  /**
   * What every connection of the store runs once, before its first statement, whatever the server's defaults:
   * - the lock wait timeouts (`lockTimeoutMs`, whole seconds) for row locks and for metadata locks
   *   (`lock_wait_timeout`, a year by default: a `FLUSH TABLES WITH READ LOCK` or an `ALTER TABLE` would hold
   *   every write that long);
   * - READ COMMITTED;
   * - autocommit on (with `autocommit=0`, every statement the store runs outside an explicit transaction
   *   would stay uncommitted, holding its locks);
   * - utf8mb4 as the connection's charset (`SET NAMES`): a server that ignores the client's handshake
   *   (`character-set-client-handshake = OFF`) would otherwise read the UTF-8 the driver sends as latin1
   *   (text stored double-encoded) or utf8mb3 (emoji refused);
   * - the server's `sql_mode` without {@link UNSAFE_MODES}: mysql2 binds values by escaping them into the
   *   statement with backslashes (as Kysely's MySQL driver uses it), so under `NO_BACKSLASH_ESCAPES` a quote
   *   in a value ends the string — statements fail, or a crafted value is read as SQL. The application's
   *   statements on the store's connections (`tx.native`) run under the same modes.
   *
   * Kysely runs it on the connections it takes; the multi-statement write paths run it on the pool
   * connections they take themselves.
   */
  private sessionSettings(): string[] {
    const lockWait = Math.max(1, Math.ceil(this.#options.lockTimeoutMs / 1_000));
    return [
      `SET SESSION innodb_lock_wait_timeout = ${lockWait}`,
      `SET SESSION lock_wait_timeout = ${lockWait}`,
      'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED',
      'SET SESSION autocommit = 1',
      'SET NAMES utf8mb4',
      WITHOUT_UNSAFE_MODES,
    ];
  }

  /**
   * Ends the pool once running operations returned their connections. Kysely ends it only if this instance
   * ever took a connection, and the migrator's instance (see {@link init}) shares it without ending it: a store
   * that only ran `init()` would keep a connection open and the process alive.
   */
  protected async shutdown(db: MysqlKysely): Promise<void> {
    await db.destroy().catch(() => {});
    // Ending an ended pool calls back at once; an error closing a connection leaves nothing to do.
    const pool = this.#pool;
    if (pool) await new Promise<void>((resolve) => pool.end(() => resolve()));
  }

  /**
   * The transactional-outbox write of `changes` (what the async strategies do for `put`/`putMany`/`delete`):
   * one change in one round trip (a `CALL` of the write procedure `init` installs, the no-op check in SQL: see
   * {@link callWriteProcedure}; two round trips where the user may not create or execute routines), a batch in
   * two whatever its size ({@link writeChangesInTwoRoundTrips}, planned in memory between them). Same locks, rules
   * and results as the transaction path, which takes six for one put (and which a batch that changes one id
   * twice still takes). A batch past 500 changes or the server's `max_allowed_packet` takes more messages in
   * the same transaction.
   * @throws {ValidationError} before anything is written, for a record no statement can carry (larger than
   *   `max_allowed_packet` once inlined; naming its largest field), an id over 1,536 UTF-8 bytes, or a `now` that
   *   is not whole Unix ms.
   */
  async writeChanges(changes: readonly Change[], now: number): Promise<WriteResult[]> {
    const context = await this.#writeContext(changes);
    const procedure = changes.length === 1 ? this.#writeProcedure : undefined;
    const results = await this.writeBatch(changes, now, async (kysely, ids, locking) => {
      if (procedure && locking === 'wait') {
        const written = await callWriteProcedure({ ...context, kysely }, procedure, changes[0]!, now);
        if (written) return [written];
        this.#writeProcedure = undefined; // dropped, or not ours to execute: nothing ran
      }
      return writeChangesInTwoRoundTrips({ ...context, kysely }, changes, ids, now, locking);
    });
    await this.#pruneAfter(results.flatMap((r) => (r.changed && r.version !== null ? [r.version] : [])));
    return results;
  }

  /**
   * Prunes the version sequence after a write whose versions passed a prune mark, in a transaction of its own
   * that waits for no lock (`MysqlQueries.pruneSequence`). Best effort: a failure leaves the rows to the next.
   */
  async #pruneAfter(versions: readonly number[]): Promise<void> {
    if (!this.q.pruneDue(versions)) return;
    const newest = Math.max(...versions);
    await this.transact('pruneSequence', (conn) => this.q.pruneSequence(conn, newest)).catch(() => {});
  }

  /**
   * sync-2pc's prepare (`RelationalStore.prepareIntents`) in one round trip: one multi-statement message — see
   * {@link prepareIntentsInOneRoundTrip}.
   * @throws {ValidationError} before anything is written, for a record no statement can carry, an id over
   *   1,536 UTF-8 bytes (the commit, after the vector write, could not store it), or an `expiresAt` that is not
   *   whole Unix ms.
   */
  async prepareIntents(
    changes: readonly Change[],
    tokens: readonly string[],
    expiresAt: number,
  ): Promise<PreparedIntent[]> {
    this.checkTime(expiresAt, 'expiresAt');
    const context = await this.#writeContext(changes);
    this.refuseUnstorableChanges(changes);
    const kysely = this.use('prepareIntents');
    const prepared = await this.track(() =>
      this.withRecordLocks('prepareIntents', changes.map(changeId), (locking) =>
        prepareIntentsInOneRoundTrip({ ...context, kysely }, changes, tokens, expiresAt, locking),
      ),
    );
    await this.#pruneAfter(prepared.map((p) => p.version));
    return prepared;
  }

  /**
   * sync-2pc's commit (`RelationalStore.commitIntents`) in two round trips, decided by core's `commitStep` —
   * see {@link commitIntentsInTwoRoundTrips}.
   * @throws {ValidationError} for an `options.now` or a version that is not whole, before anything runs.
   */
  async commitIntents(writes: readonly IntentCommit[], options: IntentCommitOptions): Promise<string[]> {
    this.checkIntentCommits(writes, options);
    const context = await this.#writeContext([]);
    const kysely = this.use('commitIntents');
    return this.track(() =>
      this.withRecordLocks(
        'commitIntents',
        writes.map((w) => w.next.id),
        (locking) => commitIntentsInTwoRoundTrips({ ...context, kysely }, writes, options, locking),
      ),
    );
  }

  /**
   * What the multi-statement write paths need, once `changes` are known to fit: each put's record must fit in
   * one statement (see {@link #refuseOversized}).
   */
  async #writeContext(changes: readonly Change[]): Promise<Omit<MysqlBatchWriteContext, 'kysely'>> {
    const packet = await this.#maxPacket();
    for (const change of changes) if (change.op === 'put') this.#refuseOversized(change.record, packet);
    return {
      pool: this.#pool!,
      q: this.q,
      sessionSettings: this.sessionSettings(),
      messageBudget: Math.floor(packet * 0.75),
      // A message waits for a lock once (a row lock or a metadata lock, each up to the lock wait timeout).
      // Bounded by what one Node.js timer holds: with a lockTimeoutMs above about 12.4 days the timer fired at
      // once, and a third of the writes failed as unanswered, many of them committed (helper-90).
      answerWithinMs: Math.min(2 * this.#options.lockTimeoutMs + ANSWER_MARGIN_MS, MAX_TIMER_MS),
    };
  }

  /**
   * Refuses a record no statement can carry: its values, inlined, exceed the server's `max_allowed_packet`
   * (the server would drop the connection). Names the largest of text, metadata and embedding.
   * @throws {ValidationError} naming that field.
   */
  #refuseOversized(record: Parameters<typeof writeMessageBound>[0], packet: number): void {
    if (writeMessageBound(record) <= packet) return; // the common case: no encoding twice on the write path
    const values = this.q.recordValues({
      ...record,
      embedding: record.embedding ?? null,
      version: 0,
      deleted: false,
      contentHash: '',
      syncedVersion: null,
      now: 0,
    });
    const bytes = writeMessageBytes(values);
    if (bytes <= packet) return;
    const [, text, embedding, metadata] = values as [string, string, Buffer | null, string];
    const sizes: [string, number][] = [
      ['text', Buffer.byteLength(text)],
      ['embedding', 2 * (embedding?.length ?? 0)],
      ['metadata', Buffer.byteLength(metadata)],
    ];
    const [field] = sizes.reduce((a, b) => (b[1] > a[1] ? b : a));
    throw new ValidationError(
      field,
      `record ${JSON.stringify(record.id.slice(0, 64))} needs about ${bytes} bytes in one statement, more than the server's max_allowed_packet`,
      { component: MYSQL_COMPONENT, limit: `<= ${packet} bytes per record (raise max_allowed_packet)` },
    );
  }

  /**
   * The server's `max_allowed_packet`, bytes (read once; on `db`, a transaction's connection, when given).
   */
  async #maxPacket(db?: MysqlKysely): Promise<number> {
    if (this.#packet === undefined) {
      const query = (conn: MysqlKysely) => sql<{ m: SqlInt }>`SELECT @@max_allowed_packet AS m`.execute(conn);
      const { rows } = db ? await query(db) : await this.read('maxAllowedPacket', query);
      this.#packet = int(rows[0]!.m);
      this.q.statementBytes = Math.floor(this.#packet * 0.75);
    }
    return this.#packet;
  }

  /**
   * `transaction()` refuses to go on once a statement on `tx.native` ended it (DDL commits implicitly in MySQL;
   * see {@link assertTransactionOpen}): a mark set here, checked before COMMIT ({@link transactionEnding}); the
   * transaction path also probes before each record (`txHooks.checkRecord`), so no record row is written outside
   * the transaction without its outbox entry. Two round trips more per transaction, two per record written.
   */
  protected override async transactionBegan(tx: SqlTx): Promise<void> {
    await markTransactionOpen(tx.native as MysqlKysely);
  }

  protected override async transactionEnding(tx: SqlTx): Promise<void> {
    await assertTransactionOpen(tx.native as MysqlKysely, 'mark');
  }

  /**
   * The transaction path refuses a record larger than one statement can carry, as the batch write does, and a
   * record written after a statement ended the transaction ({@link transaction}).
   */
  protected override get txHooks(): SqlTxHooks {
    return {
      ...super.txHooks,
      checkRecord: async (db, record) => {
        await assertTransactionOpen(db as MysqlKysely, 'probe');
        if (record.deleted) return;
        this.#refuseOversized(record, await this.#maxPacket(db as MysqlKysely));
      },
    };
  }

  protected override tryLockRecords(conn: MysqlKysely, ids: readonly string[]): Promise<boolean> {
    return this.q.tryLockRecords(conn, ids);
  }
}
