import {
  type AckOutcome,
  type Change,
  ClosedError,
  changeId,
  commitIntentsInTx,
  type IntentCommit,
  type IntentCommitOptions,
  type OutboxAck,
  type OutboxWakeUp,
  outlivedIntent,
  type PreparedIntent,
  ValidationError,
  type WriteResult,
} from '@dualwrite/core';
import {
  errorCode,
  type RecordLocking,
  RecordsBusy,
  SQL_MAX_PAGE,
  SqlRelationalStore,
  type SqlTx,
  statementChars,
} from '@dualwrite/sql';
import { type CompiledQuery, Kysely, PostgresDialect, type RawBuilder, sql } from 'kysely';
import pg from 'pg';
import { ackCall, ackOutcomes } from './postgres-ack-function.js';
import { warnWithoutAutovacuum } from './postgres-autovacuum-check.js';
import {
  answerMayBeLost,
  type mapPostgresError,
  POSTGRES_COMPONENT,
  POSTGRES_ERRORS,
} from './postgres-errors.js';
import { LockTimeoutDriver } from './postgres-lock-timeout-driver.js';
import { migratePostgresSchema } from './postgres-migrations.js';
import { NotifyCoalescer } from './postgres-notify-coalescer.js';
import { type ListenerHealth, PostgresOutboxListener } from './postgres-outbox-listener.js';
import { PreparedCalls } from './postgres-prepared-calls.js';
import { PostgresQueries } from './postgres-queries.js';
import {
  type PostgresKysely,
  type PostgresRelationalStoreOptions,
  type PostgresTableNames,
  postgresTableNames,
  type ResolvedPostgresRelationalStoreOptions,
  resolvePostgresOptions,
} from './postgres-relational-store-options.js';
import { commitCall, INTENT_GONE, prepareCall, preparedIntents } from './postgres-two-phase-functions.js';
import {
  type CallLocks,
  IDS_BUSY,
  NOT_READ_COMMITTED,
  type WriteRow,
  writeChangesCall,
  writeResults,
} from './postgres-write-function.js';
import { writeOneCall } from './postgres-write-one.js';

/** Max `limit` of the listing methods (`listRecords`, `listVersions`, `listDeadLetters`) and of claims. */
export const POSTGRES_MAX_PAGE = SQL_MAX_PAGE;

/** The server process id a connection reported at startup (`BackendKeyData`). */
function backendPid(client: pg.PoolClient): number {
  return (client as unknown as { processID: number }).processID;
}

/**
 * Refuses a database whose encoding cannot hold every id and text: records are UTF-8, and a LATIN1 (or any other
 * single-byte) database refuses every character outside its set with a raw error at the write — a decomposed
 * accent, an emoji (helper-52). SQL_ASCII stores the bytes as given, which round-trips UTF-8 exactly.
 * @throws {ValidationError} on field `database`.
 */
async function refuseNonUtf8Database(db: PostgresKysely): Promise<void> {
  const { rows } = await sql<{ server_encoding: string }>`SHOW server_encoding`.execute(db);
  const encoding = rows[0]?.server_encoding;
  if (encoding !== undefined && encoding !== 'UTF8' && encoding !== 'SQL_ASCII')
    throw new ValidationError(
      'database',
      `has encoding ${encoding}: ids and text are UTF-8, and characters outside ${encoding} could not be stored (create the database with ENCODING 'UTF8')`,
      { component: POSTGRES_COMPONENT, limit: "server_encoding 'UTF8'" },
    );
}

/**
 * `RelationalStore` on PostgreSQL (13 or newer) through Kysely's `PostgresDialect` and node-postgres.
 * Several processes on several machines may use one database at once: API instances writing, and drain
 * workers claiming from the same outbox without a coordinator.
 *
 * **Connections.** A `pg.Pool` (`poolSize` connections, default 10) opened on first use; statements of
 * different calls run concurrently. {@link subscribeOutbox} opens one more, dedicated connection.
 *
 * **Transactions** run at READ COMMITTED (set explicitly, whatever the server default) on one pooled
 * connection; `tx.native` is Kysely's transaction object, so application tables commit or roll back with the
 * records and the outbox. `lock_timeout` is `lockTimeoutMs` (default 10 s), set with each `BEGIN` (`SET LOCAL`)
 * and passed to each function call, so it holds behind a pooler in transaction mode and never outlives them.
 *
 * **Locking** (why no update is lost under READ COMMITTED). The core write path reads a record
 * (`tx.getRecord`), draws `nextVersion()`, then writes the record and enqueues it. Two processes doing that for
 * one id at once would both read the old row, and the one committing last would win even with the lower
 * version. So every read-modify-write of an id first takes a transaction-scoped advisory lock on it,
 * `pg_advisory_xact_lock(<store key>, <32-bit hash of the id>)` (PostgreSQL docs §13.3.5 "Advisory Locks"):
 * - `tx.getRecord`, `tx.writeRecord` and `tx.enqueue` take it (once per id and transaction) and keep it until
 *   COMMIT/ROLLBACK, so concurrent writers of one id run one after the other and each reads the other's
 *   committed row. This also covers a brand-new id, which a row lock (`SELECT ... FOR UPDATE`) could not: there
 *   is no row to lock yet. The lock is taken in its own statement before the read, because a READ COMMITTED
 *   statement's snapshot is taken when the statement starts.
 * - `ackOutbox` and `enqueueRepairs` take the locks of all their ids too, so an ack never
 *   deletes an entry a writer is replacing. They never wait while holding some of them: they try
 *   (`pg_try_advisory_xact_lock`) and, if any is taken, roll back and try again for up to
 *   `TRY_LOCK_WINDOW_MS`, and only then wait for the locks in key order. A writer's transaction that
 *   touches several ids in an arbitrary order therefore cannot deadlock with the drain workers.
 * - Transactions that write several ids take their locks in the order they touch them: two such transactions
 *   touching the same ids in opposite orders can deadlock like with row locks; PostgreSQL then aborts one
 *   (SQLSTATE 40P01, surfaced as `TransientBackendError`; retry the call). Writing ids in a consistent order
 *   (e.g. sorted) avoids it.
 * - Claims (`claimOutbox`) never wait: one `UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)` statement
 *   (`PostgresQueries.claim`), so N workers in N processes drain one outbox without a coordinator and without
 *   two of them holding one entry; a claim may return fewer than `limit` entries while others are being
 *   claimed, and the next call gets them.
 *
 * **Versions** come from a `SEQUENCE` (`nextval`): strictly increasing across sessions; a value drawn by a
 * rolled-back transaction is skipped, never reused.
 *
 * **Notifications.** Transactions that enqueue (and `enqueueRepairs`, `requeueDeadLetters`, lost-lease
 * acks) call `pg_notify` once, so listeners in every process wake as the transaction commits
 * (disable with `notify: false`).
 *
 * Errors: `TransientBackendError` for deadlocks, serialization failures, lock and statement timeouts;
 * `BackendUnavailableError` when the server cannot be reached, shuts down, or the database is missing (see
 * {@link mapPostgresError}); `ValidationError` for a `limit` outside 1..10,000, a non-positive `leaseMs` or a
 * text containing U+0000 (PostgreSQL `text` cannot store it); `ClosedError` after {@link close}. All carry
 * `component: 'postgres'`.
 *
 * Calling a method of this store from inside its own {@link transaction} callback throws an `Error` (use the
 * `tx` argument), as with the SQLite store: it would need a second connection and would not see the
 * transaction's writes.
 *
 * @example
 * ```ts
 * const store = new PostgresRelationalStore({ connectionString: process.env.DATABASE_URL, schema: 'search' });
 * const dw = await createDualWrite({ relational: store, vector, strategy: 'batch', embedder });
 * await dw.transaction(async (uow) => {
 *   await uow.db.insertInto('orders').values({ id: 'o-1', total: 42 }).execute(); // same transaction
 *   await uow.put({ id: 'o-1', text: 'order o-1: 42 EUR' });
 * });
 * ```
 */
export class PostgresRelationalStore extends SqlRelationalStore<PostgresKysely> {
  /** `'postgres'`. */
  readonly name = 'postgres';
  /** The names of the schema, tables, indexes, sequence and notification channel this store owns. */
  readonly tableNames: PostgresTableNames;

  readonly #options: ResolvedPostgresRelationalStoreOptions;
  protected readonly q: PostgresQueries;
  protected readonly errors = POSTGRES_ERRORS;
  protected override readonly nulInText = false;
  protected override readonly lockTimeoutOutsideTransactions = false;
  /**
   * Ids of at most 2,600 UTF-8 bytes. A B-tree entry holds at most 2,704 bytes ("index row size exceeds btree
   * version 4 maximum 2704", PostgreSQL's `BTMaxItemSize` for 8 KiB pages), and the records', outbox's and
   * intents' indexes hold the id; PostgreSQL compresses a long key first, so without this limit whether an id
   * over it is stored would depend on how well it compresses, and the refusal would come from the server,
   * mid-transaction (helper-52). Reached only with `limits.maxIdLength` raised: 512 UTF-16 code units are at most
   * 1,536 bytes.
   */
  protected override readonly maxIdBytes = 2_600;
  /**
   * 2^27 characters per function call: node-postgres spells an array argument as one string (V8's limit is
   * 2^29 - 24 characters; 600 puts of 1 MiB failed with `RangeError: Invalid string length`), and PostgreSQL
   * takes at most 1 GB per value.
   */
  protected override readonly maxStatementChars = 2 ** 27;
  readonly #listeners = new Set<PostgresOutboxListener>();
  /** The pool {@link open} made. */
  #pool: pg.Pool | undefined;
  /** The store functions' calls in autocommit, as named prepared statements on {@link #pool}. */
  #calls: PreparedCalls | undefined;
  /**
   * Which writes notify in their own transaction, and the trailing `NOTIFY` of the others; set by {@link open}
   * when `notify` is on and `notifyCoalesceMs` > 0 (without it, every enqueuing write notifies when `notify` is on).
   */
  #notifier: NotifyCoalescer | undefined;
  /**
   * Server process ids of the pool's connections: a notification one of them sent is this store's own write
   * (`OutboxWakeUp.ownWrite`), whose facade woke its drainer in-process already. Behind a pooler the ids are the
   * pooler's, never a notifier's: every wake-up then counts as another's.
   */
  readonly #ownBackends = new Set<number>();
  /** Set once a store function refused autocommit (the session's default isolation is not READ COMMITTED). */
  #writeInTransaction = false;

  /**
   * Validates the options; connects to nothing yet.
   * @throws {ValidationError} on invalid options (see {@link resolvePostgresOptions}).
   */
  constructor(options: PostgresRelationalStoreOptions) {
    super();
    this.#options = resolvePostgresOptions(options);
    this.tableNames = postgresTableNames(this.#options.schema, this.#options.tablePrefix);
    this.q = new PostgresQueries(this.tableNames);
  }

  /**
   * The server's clock now (`clock_timestamp()`), Unix ms: every process of this source reads leases and intent
   * expiries on it (`RelationalStore.sourceTime`), whatever its own machine's clock says.
   * @throws {BackendUnavailableError} when the server cannot be reached.
   */
  sourceTime(): Promise<number> {
    return this.serverTime();
  }

  /**
   * Creates the schema if missing and brings the store's tables up to date with Kysely migrations under a
   * transaction-scoped advisory lock (see {@link migratePostgresSchema}). Idempotent and safe to run from
   * several processes at once, also through a pooler in transaction mode.
   * @throws {BackendUnavailableError} when the server cannot be reached or the database does not exist.
   * @throws {TransientBackendError} when another process held the migration lock past `lockTimeoutMs`.
   * @throws {ValidationError} (field `database`) when the database's encoding is neither UTF8 nor SQL_ASCII.
   * Emits a process warning (`DUALWRITE_POSTGRES_AUTOVACUUM_OFF`) when autovacuum skips the outbox, records or
   * intents table (see `warnWithoutAutovacuum`).
   */
  async init(): Promise<void> {
    await this.read('init', async (db) => {
      await refuseNonUtf8Database(db);
      await migratePostgresSchema(db, this.#pool!, this.tableNames, this.#options.lockTimeoutMs);
      await warnWithoutAutovacuum(db, this.tableNames);
    });
  }

  /**
   * The transactional-outbox write of `changes` (what the async strategies do for `put`/`putMany`/`delete`)
   * in one statement and one round trip whatever the batch size: a call of the store's write function
   * (`<prefix>write_changes`, installed by `init()`; see `writeFunctionMigration`), which takes the
   * ids' advisory locks and then decides, versions, writes and notifies in SQL with the transaction path's
   * rules — the `NOTIFY` coalesced with this store's other writes of the same `notifyCoalesceMs` window (the
   * first notifies in its own transaction, one trailing `NOTIFY` covers the rest). It runs in autocommit; where
   * the session's default isolation is not READ COMMITTED the function refuses, and this store wraps it in
   * `BEGIN ISOLATION LEVEL READ COMMITTED` from then on (three round trips). A batch that changes one id twice takes the transaction path.
   * @throws {ValidationError} for text holding U+0000 (PostgreSQL `text` cannot store it), or a `now` that is not
   *   whole Unix ms, before anything runs; the mapped driver errors otherwise.
   */
  async writeChanges(changes: readonly Change[], now: number): Promise<WriteResult[]> {
    return this.writeBatch(changes, now, async (db, ids, locking) => {
      const byId = new Map(changes.map((c) => [changeId(c), c]));
      const ordered = ids.map((id) => byId.get(id)!);
      const notifier = this.#notifier;
      const notify = notifier ? notifier.take() : this.#options.notify;
      const locks = this.#locks(locking);
      const call =
        ordered.length === 1
          ? writeOneCall(this.tableNames, this.q, ordered[0]!, now, notify, locks)
          : writeChangesCall(this.tableNames, this.q, ordered, now, notify, locks);
      let rows: WriteRow[];
      try {
        rows = await this.#callFunction(db, 'writeChanges', call);
      } catch (error) {
        // It may have committed and lost only its answer (a connection that died on the way back): the NOTIFY it
        // left to the coalescer is owed, or listeners elsewhere wait for their poll. (An error the server answered
        // committed nothing: owing one then woke every listener once a window for as long as the errors lasted.)
        if (notifier && !notify && answerMayBeLost(error)) notifier.owed();
        throw error;
      }
      const results = writeResults(ordered, rows);
      if (notifier && !notify && results.some((r) => r.changed)) notifier.owed();
      return order(results);
    });

    function order(results: WriteResult[]): WriteResult[] {
      const byId = new Map(results.map((r) => [r.id, r]));
      return changes.map((c) => byId.get(changeId(c))!);
    }
  }

  /**
   * Acknowledges deliveries (`RelationalStore.ackOutbox`) by core's ledger rule. Acks of distinct ids (the
   * drainers' case) are one statement and one round trip: a call of `<prefix>ack_deliveries` (installed by
   * `init()`; see `ackFunctionMigration`). A batch naming one id twice, or one whose ids another transaction
   * holds (the function only tries the locks), takes the shared store's transaction, which backs off and waits.
   * @throws {ValidationError} for a `now` or an `appliedVersion` that is not whole, before anything is written.
   */
  override async ackOutbox(acks: readonly OutboxAck[], now: number): Promise<AckOutcome[]> {
    this.checkAcks(acks, now);
    const ids = acks.map((a) => a.recordId);
    if (acks.length === 0 || new Set(ids).size !== ids.length) return super.ackOutbox(acks, now);
    const db = this.use('ackOutbox');
    const call = ackCall(this.tableNames, this.q, acks, now, this.#options.notify);
    try {
      return await this.track(async () => ackOutcomes(await this.#callFunction(db, 'ackOutbox', call)));
    } catch (error) {
      if (error instanceof RecordsBusy) return super.ackOutbox(acks, now);
      throw error;
    }
  }

  /**
   * sync-2pc's prepare (`RelationalStore.prepareIntents`) in one statement and one round trip: a call of
   * `<prefix>sync_prepare` (installed by `init()`; see `twoPhaseFunctionsMigration`), which takes the ids'
   * advisory locks, reads their rows and outbox entries, draws their versions and logs their intents exactly
   * as core's `prepareIntentsInTx` does through a transaction.
   * @throws {ValidationError} for text holding U+0000 (PostgreSQL `text` cannot store it), or an `expiresAt` that
   *   is not whole Unix ms, before anything runs; the mapped driver errors otherwise.
   */
  async prepareIntents(
    changes: readonly Change[],
    tokens: readonly string[],
    expiresAt: number,
  ): Promise<PreparedIntent[]> {
    this.checkTime(expiresAt, 'expiresAt');
    this.refuseUnstorableChanges(changes);
    const db = this.use('prepareIntents');
    return this.track(() =>
      this.withRecordLocks('prepareIntents', changes.map(changeId), async (locking) => {
        const call = prepareCall(this.tableNames, this.q, changes, tokens, expiresAt, this.#locks(locking));
        return preparedIntents(await this.#callFunction(db, 'prepareIntents', call));
      }),
    );
  }

  /**
   * sync-2pc's commit (`RelationalStore.commitIntents`) in one statement and one round trip: a call of
   * `<prefix>sync_commit`, core's `commitIntentsInTx` rule in PL/pgSQL (and one `pg_notify` when it enqueued);
   * core's `commitIntentsInTx` in a transaction for writes past {@link maxStatementChars}.
   * @returns `[]` when it enqueued nothing (every write synced), `undefined` when it enqueued some (the function
   *   counts them; sync-2pc then awaits every write's delivery).
   * @throws {ValidationError} for an `options.now` or a version that is not whole, before anything runs.
   */
  async commitIntents(
    writes: readonly IntentCommit[],
    options: IntentCommitOptions,
  ): Promise<readonly string[] | undefined> {
    this.checkIntentCommits(writes, options);
    if (statementChars(writes.map((w) => ({ record: w.next }))) > this.maxStatementChars)
      return this.transaction((tx) => commitIntentsInTx(tx, writes, options));
    const db = this.use('commitIntents');
    const ids = writes.map((w) => w.next.id);
    const rows = await this.track(() =>
      this.withRecordLocks('commitIntents', ids, (locking) => {
        const call = commitCall(
          this.tableNames,
          this.q,
          writes,
          { ...options, notify: this.#options.notify },
          this.#locks(locking),
        );
        return this.#callFunction(db, 'commitIntents', call);
      }),
    );
    // The function counts what it enqueued without naming it: none is an answer, some is not (see the contract).
    return Number(rows[0]?.enqueued ?? 0) === 0 ? [] : undefined;
  }

  /** How a function call takes its ids' locks: `locking`, waiting at most `lockTimeoutMs`. */
  #locks(locking: RecordLocking): CallLocks {
    return { locking, timeoutMs: this.#options.lockTimeoutMs };
  }

  /**
   * Runs a call of one of the store's functions in autocommit (one round trip), as a named prepared statement
   * ({@link PreparedCalls}); where the session's default isolation is not READ COMMITTED the functions refuse
   * ({@link NOT_READ_COMMITTED}), and from then on this store wraps every call in `BEGIN ISOLATION LEVEL READ
   * COMMITTED` (three round trips).
   * @throws {RecordsBusy} when a call that only tried its locks found one held ({@link IDS_BUSY}).
   * @throws core's `outlivedIntent` `ConflictError` when `<prefix>sync_commit` found a write's intent gone
   *   ({@link INTENT_GONE}).
   */
  async #callFunction<R>(
    db: PostgresKysely,
    operation: string,
    call: RawBuilder<R> | CompiledQuery<R>,
  ): Promise<R[]> {
    const busy = (error: unknown) => {
      const code = errorCode(error);
      if (code === IDS_BUSY) return new RecordsBusy();
      if (code === INTENT_GONE) return outlivedIntent(String((error as { detail?: unknown }).detail));
      return error;
    };
    const compiled = 'compile' in call ? call.compile(db) : call;
    if (!this.#writeInTransaction)
      try {
        return await this.#calls!.run(compiled);
      } catch (error) {
        if ((error as { code?: unknown }).code !== NOT_READ_COMMITTED)
          throw this.mapError(busy(error), operation);
        this.#writeInTransaction = true;
      }
    const run = (conn: PostgresKysely) =>
      conn.executeQuery(compiled).catch((error: unknown) => Promise.reject(busy(error)));
    return (await this.transact(operation, run)).rows;
  }

  /**
   * Calls `listener` soon after any process commits an outbox enqueue (`LISTEN` on
   * {@link PostgresTableNames.notifyChannel}, on a dedicated connection; PostgreSQL docs, "NOTIFY":
   * notifications are delivered between transactions, only for committed transactions, and in commit order).
   * The connection reconnects by itself after errors (backoff 250 ms doubling to 5 s) and then calls `listener`
   * once, since notifications sent meanwhile are lost. Delivery is a hint, never a guarantee: keep polling.
   *
   * Resolves to an unsubscribe function that closes the connection (idempotent). {@link close} closes every
   * subscription too. When only its own connection cannot be opened (a role or server at its connection limit)
   * while the store's queries work, it resolves all the same and keeps trying with the same backoff
   * ({@link listenerHealth} reports `listening: false` meanwhile, and the drain polls at its short interval): a
   * worker whose queries work must not fail to start for its wake-ups.
   * @throws {BackendUnavailableError} when the server cannot be reached at all.
   * @throws {ClosedError} after {@link close}.
   */
  async subscribeOutbox(listener: (wakeUp: OutboxWakeUp) => void): Promise<() => Promise<void>> {
    this.assertUsable('subscribeOutbox');
    const { listenHeartbeatMs } = this.#options;
    const subscription = new PostgresOutboxListener(
      this.#options.poolConfig,
      this.tableNames.notifyChannel,
      listener,
      (processId) => this.#ownBackends.has(processId),
      // With `notify: false` no enqueue notifies: there is no wake-up to check, and no NOTIFY is sent.
      this.#options.notify
        ? (payload) =>
            this.read('subscribeOutbox heartbeat', (db) =>
              sql`SELECT pg_notify(${this.tableNames.notifyChannel}, ${payload})`.execute(db),
            )
        : undefined,
      () => {},
      { intervalMs: listenHeartbeatMs, timeoutMs: Math.max(50, Math.round(listenHeartbeatMs * 0.4)) },
    );
    try {
      await subscription.start();
    } catch (error) {
      // The server is down: say so. Only the dedicated connection was refused (a role or server at its
      // connection limit): start anyway, polling, and keep trying.
      const queriesWork = await this.read('subscribeOutbox', (db) => sql`SELECT 1`.execute(db)).then(
        () => true,
        () => false,
      );
      if (!queriesWork) {
        await subscription.close();
        throw error;
      }
      subscription.retryLater(error);
    }
    if (this.closed) {
      await subscription.close();
      throw new ClosedError('PostgresRelationalStore', { component: POSTGRES_COMPONENT });
    }
    this.#listeners.add(subscription);
    return async () => {
      this.#listeners.delete(subscription);
      await subscription.close();
    };
  }

  /**
   * What the `subscribeOutbox` connections have seen, summed: reconnects, failed heartbeats, the latest
   * notification (Unix ms or `null`), how many are listening now, and the latest NOTIFY queue usage read by
   * a heartbeat (`pg_notification_queue_usage()`, a fraction 0..1 of the server's 8 GB queue; near 1, every
   * outbox write fails at commit with "too many notifications in the NOTIFY queue" — see
   * {@link ListenerHealth.notificationQueueUsage}), and whether the heartbeats' own notifications come back
   * (`false` when any subscription's last one did not: wake-ups are not reaching this process — see
   * {@link ListenerHealth.notificationsDelivered}). For worker logs and dashboards.
   */
  listenerHealth(): { subscriptions: number } & ListenerHealth {
    const all = [...this.#listeners].map((l) => l.health);
    const usage = all.reduce<ListenerHealth | undefined>(
      (latest, h) =>
        h.notificationQueueUsageAt !== null &&
        (latest?.notificationQueueUsageAt == null ||
          h.notificationQueueUsageAt > latest.notificationQueueUsageAt)
          ? h
          : latest,
      undefined,
    );
    return {
      subscriptions: all.length,
      reconnects: all.reduce((n, h) => n + h.reconnects, 0),
      heartbeatFailures: all.reduce((n, h) => n + h.heartbeatFailures, 0),
      lastNotificationAt: all.reduce<number | null>(
        (t, h) =>
          h.lastNotificationAt !== null && (t === null || h.lastNotificationAt > t)
            ? h.lastNotificationAt
            : t,
        null,
      ),
      listening: all.some((h) => h.listening),
      notificationQueueUsage: usage?.notificationQueueUsage ?? null,
      notificationQueueUsageAt: usage?.notificationQueueUsageAt ?? null,
      notificationsDelivered: all.some((h) => h.notificationsDelivered === false)
        ? false
        : all.some((h) => h.notificationsDelivered === true)
          ? true
          : null,
      notificationsMissed: all.reduce((n, h) => n + h.notificationsMissed, 0),
    };
  }

  // -- dialect hooks -------------------------------------------------------------------------------

  /** The pool (no connection yet). */
  protected open(): PostgresKysely {
    const pool = new pg.Pool(this.#options.poolConfig);
    this.#pool = pool;
    this.#calls = new PreparedCalls(pool);
    this.q.prepared = this.#calls;
    // An idle client whose connection dies emits 'error' on the pool (which then discards it); without a
    // handler Node would crash the process. The next query opens a new connection.
    pool.on('error', () => {});
    // A checked-out client has no error listener (pg-pool removes its own while the client is lent out), and
    // node-postgres emits 'error' when its connection dies — a server restart or `pg_terminate_backend`
    // inside a transaction, or even during a query (on the socket's end) — which would crash the process.
    // The failure still reaches the caller: the running query rejects, later ones fail (the client is no
    // longer queryable), and the pool discards the client when it is released.
    pool.on('connect', (client) => {
      client.on('error', () => {});
      this.#ownBackends.add(backendPid(client));
    });
    pool.on('remove', (client) => this.#ownBackends.delete(backendPid(client)));
    // `lock_timeout` is set per transaction (`SET LOCAL` with each BEGIN; the functions take it as an
    // argument), never for the session: PgBouncer refuses it as a startup parameter, and behind a pooler in
    // transaction mode a session `SET` lands on one server session, missing the client's later transactions
    // on others and staying with that session for the pooler's other clients.
    const { lockTimeoutMs, notify, notifyCoalesceMs } = this.#options;
    const db = new Kysely<unknown>({
      dialect: new (class extends PostgresDialect {
        override createDriver() {
          return new LockTimeoutDriver({ pool }, lockTimeoutMs);
        }
      })({ pool }),
      ...this.rollbackWatch,
    });
    if (notify && notifyCoalesceMs > 0)
      this.#notifier = new NotifyCoalescer(notifyCoalesceMs, () => this.q.notify(db));
    return db;
  }

  /**
   * Sends the trailing `NOTIFY` still owed, closes the notification connections, then ends the pool once running
   * operations returned theirs.
   */
  protected async shutdown(db: PostgresKysely): Promise<void> {
    await this.#notifier?.close();
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    await Promise.all(listeners.map((l) => l.close()));
    await db.destroy().catch(() => {});
  }

  /**
   * A `COMMIT` or `ROLLBACK` the callback of `transaction()` ran on `uow.db` is noticed: a record write after it is
   * refused by its lock statement, and when the callback wrote records, one statement before `COMMIT` checks the
   * transaction is still the one it began (a final `ROLLBACK` would otherwise undo them while the call resolved).
   * @throws {ValidationError} naming `uow.db` when a statement on it ended the transaction.
   */
  protected override async transactionEnding(tx: SqlTx): Promise<void> {
    if (tx.wroteRecords) await this.q.assertInTransactionBlock(tx.native as PostgresKysely);
  }

  protected override tryLockRecords(conn: PostgresKysely, ids: readonly string[]): Promise<boolean> {
    return this.q.tryLockRecords(conn, ids);
  }

  /** `pg_notify` once per transaction that enqueued (unless `notify: false`). */
  protected override async enqueued(conn: PostgresKysely): Promise<void> {
    if (this.#options.notify) await this.q.notify(conn);
  }
}
