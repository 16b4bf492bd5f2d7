import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AckOutcome,
  type ClaimOptions,
  ClosedError,
  enqueueRepair,
  type OutboxAck,
  type OutboxLease,
  type OutboxOp,
  type RecordWrite,
  type RelationalStore,
  type RelationalTx,
  type StoredRecord,
  ValidationError,
} from '@dualwrite/core';
import {
  int,
  SQL_MAX_PAGE,
  SqlLedgerTx,
  SqlRelationalStore,
  SqlTx,
  toOutboxLease,
  toStoredRecord,
} from '@dualwrite/sql';
import { type ControlledTransaction, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { mapPostgresError, POSTGRES_COMPONENT } from './postgres-errors.js';
import { migratePostgresSchema } from './postgres-migrations.js';
import { PostgresOutboxListener } from './postgres-outbox-listener.js';
import { PostgresQueries } from './postgres-queries.js';
import {
  type PostgresKysely,
  type PostgresRelationalStoreOptions,
  type PostgresTableNames,
  postgresTableNames,
  type ResolvedPostgresRelationalStoreOptions,
  resolvePostgresOptions,
} from './postgres-relational-store-options.js';

/** Max `limit` of the listing methods (`listRecords`, `listVersions`, `listDeadLetters`) and of claims. */
export const POSTGRES_MAX_PAGE = SQL_MAX_PAGE;

/**
 * How long a multi-record store operation (`ackOutbox`, `enqueueRepairs`, `resolveIntent`) keeps retrying
 * `pg_try_advisory_xact_lock` on its records (rolling back in between) before it waits for the locks instead,
 * ms. See {@link PostgresRelationalStore} "Locking".
 */
export const TRY_LOCK_WINDOW_MS = 250;

/** Which store's transaction the current async context runs in (detects calls from inside `transaction`). */
const activeTransaction = new AsyncLocalStorage<PostgresRelationalStore>();

async function rollbackQuietly(trx: ControlledTransaction<unknown>): Promise<void> {
  try {
    await trx.rollback().execute();
  } catch {
    // The connection is gone (the server rolled the transaction back) or the transaction already ended.
  }
}

/** Marker a locked operation returns when a try-lock failed and it must run again. */
const RETRY = Symbol('retry');

/**
 * The unit of work handed to {@link PostgresRelationalStore.transaction}. Valid only until the callback
 * settles; `native` is Kysely's `ControlledTransaction` for the transaction's connection.
 */
class PostgresTx extends SqlTx {
  declare protected readonly q: PostgresQueries;
  readonly #notify: boolean;
  /** Ids whose advisory lock this transaction holds. */
  readonly #locked = new Set<string>();
  #notified = false;

  constructor(native: PostgresKysely, q: PostgresQueries, notify: boolean) {
    super(native, q, { component: POSTGRES_COMPONENT, mapError: mapPostgresError });
    this.#notify = notify;
  }

  async #lock(id: string): Promise<void> {
    if (this.#locked.has(id)) return;
    await this.q.lockRecords(this.native, [id]);
    this.#locked.add(id);
  }

  /** Takes the id's advisory lock (held until the transaction ends), then reads the row. */
  getRecord(id: string): Promise<StoredRecord | undefined> {
    return this.run('getRecord', async () => {
      await this.#lock(id);
      const row = await this.q.getRecord(this.native, id);
      return row === undefined ? undefined : toStoredRecord(row);
    });
  }

  nextVersion(atLeast = 0): Promise<number> {
    return this.run('nextVersion', () =>
      atLeast > 0 ? this.q.nextVersionAbove(this.native, atLeast) : this.q.nextVersion(this.native),
    );
  }

  writeRecord(record: RecordWrite): Promise<void> {
    return this.run('writeRecord', async () => {
      if (typeof record.text === 'string' && record.text.includes('\u0000'))
        throw new ValidationError('text', 'must not contain NUL (PostgreSQL text cannot store U+0000)', {
          component: POSTGRES_COMPONENT,
          limit: 'no U+0000',
        });
      await this.#lock(record.id);
      await this.q.writeRecord(this.native, record);
    });
  }

  enqueue(recordId: string, version: number, op: OutboxOp, now: number): Promise<void> {
    return this.run('enqueue', async () => {
      await this.#lock(recordId);
      await this.q.enqueue(this.native, recordId, version, op, now);
      if (this.#notify && !this.#notified) {
        await this.q.notify(this.native);
        this.#notified = true;
      }
    });
  }
}

/**
 * {@link RelationalStore} on PostgreSQL (13 or newer) through Kysely's `PostgresDialect` and node-postgres.
 * Several processes on several machines may use one database at once: API instances writing, and drain
 * workers claiming from the same outbox without a coordinator.
 *
 * **Connections.** A `pg.Pool` (`poolSize` connections, default 10) opened on first use; statements of
 * different calls run concurrently. {@link subscribeOutbox} opens one more, dedicated connection.
 *
 * **Transactions** run at READ COMMITTED (set explicitly, whatever the server default) on one pooled
 * connection; `tx.native` is Kysely's transaction object, so application tables commit or roll back with the
 * records and the outbox. `lock_timeout` is `lockTimeoutMs` (default 10 s).
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
 * - `ackOutbox`, `enqueueRepairs` and `resolveIntent` take the locks of all their ids too, so an ack never
 *   deletes an entry a writer is replacing. They never wait while holding some of them: they try
 *   (`pg_try_advisory_xact_lock`) and, if any is taken, roll back and try again for up to
 *   {@link TRY_LOCK_WINDOW_MS}, and only then wait for the locks in key order. A writer's transaction that
 *   touches several ids in an arbitrary order therefore cannot deadlock with the drain workers.
 * - Transactions that write several ids take their locks in the order they touch them: two such transactions
 *   touching the same ids in opposite orders can deadlock like with row locks; PostgreSQL then aborts one
 *   (SQLSTATE 40P01, surfaced as `TransientBackendError`; retry the call). Writing ids in a consistent order
 *   (e.g. sorted) avoids it.
 * - Claims (`claimOutbox`) never wait: one `UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)` statement;
 *   see {@link claimOutbox}.
 *
 * **Versions** come from a `SEQUENCE` (`nextval`): strictly increasing across sessions; a value drawn by a
 * rolled-back transaction is skipped, never reused.
 *
 * **Notifications.** Transactions that enqueue (and `enqueueRepairs`, `requeueDeadLetters`, `resolveIntent`,
 * lost-lease acks) call `pg_notify` once, so listeners in every process wake as the transaction commits
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
export class PostgresRelationalStore extends SqlRelationalStore implements RelationalStore<PostgresKysely> {
  /** `'postgres'`. */
  readonly name = 'postgres';
  /** The names of the schema, tables, indexes, sequence and notification channel this store owns. */
  readonly tableNames: PostgresTableNames;

  readonly #options: ResolvedPostgresRelationalStoreOptions;
  protected readonly q: PostgresQueries;
  protected readonly component = POSTGRES_COMPONENT;
  readonly #listeners = new Set<PostgresOutboxListener>();
  #db: PostgresKysely | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

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
   * The store's Kysely instance over its pool (created on first use), for application queries outside store
   * transactions. Inside {@link transaction} use `tx.native`.
   * @throws {ClosedError} after {@link close}.
   */
  get kysely(): PostgresKysely {
    return this.#use('kysely');
  }

  /**
   * Creates the schema if missing and brings the store's tables up to date with Kysely migrations under a
   * session-level advisory lock (see {@link migratePostgresSchema}). Idempotent and safe to run from several
   * processes at once.
   * @throws {BackendUnavailableError} when the server cannot be reached or the database does not exist.
   * @throws {TransientBackendError} when another process held the migration lock past `lockTimeoutMs`.
   */
  async init(): Promise<void> {
    const db = this.#use('init');
    try {
      await migratePostgresSchema(db, this.tableNames);
    } catch (error) {
      throw mapPostgresError(error, 'init');
    }
  }

  /**
   * Runs `fn` in one READ COMMITTED transaction on one pooled connection; commits when it resolves, rolls back
   * when it throws and rethrows `fn`'s error unchanged. Do not nest, and do not call other methods of this
   * store inside `fn` (use `tx`).
   * @throws {BackendUnavailableError} when no connection can be had, or it breaks at COMMIT.
   * @throws {TransientBackendError} when COMMIT fails with a serialization failure or deadlock.
   */
  async transaction<T>(fn: (tx: RelationalTx<PostgresKysely>) => Promise<T>): Promise<T> {
    return this.#transaction(
      'transaction',
      async (trx) => {
        const tx = new PostgresTx(trx, this.q, this.#options.notify);
        try {
          return await fn(tx);
        } finally {
          tx.finish();
        }
      },
      false,
    );
  }

  /**
   * Claims up to `limit` due entries in one statement, so N workers in N processes drain one outbox
   * concurrently, without a coordinator and without two of them holding one entry:
   *
   * ```sql
   * UPDATE outbox SET lease_owner = $owner, lease_token = gen_random_uuid(), lease_until = $now + $leaseMs, ...
   * FROM (SELECT record_id FROM outbox
   *       WHERE state = 'pending' AND next_attempt_at <= $now AND (lease_until IS NULL OR lease_until <= $now)
   *       ORDER BY next_attempt_at, enqueued_at LIMIT $limit
   *       FOR UPDATE SKIP LOCKED) AS due
   * WHERE outbox.record_id = due.record_id RETURNING outbox.*
   * ```
   *
   * `SKIP LOCKED` skips rows another claim is locking right now instead of waiting for them; a row another
   * claim leased and committed meanwhile is re-checked against the WHERE clause and dropped (PostgreSQL docs,
   * "SELECT — The Locking Clause": "With SKIP LOCKED, any selected rows that cannot be immediately locked are
   * skipped"; it is meant for queue-like tables). A claim may therefore return fewer than `limit` entries while
   * others are being claimed; the next call gets them. Result ordered by `nextAttemptAt`, then `enqueuedAt`.
   * Each lease gets a fresh random `leaseToken` (UUID v4), `leaseOwner = owner`, `leaseUntil = now + leaseMs`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000 or `leaseMs` is not positive.
   */
  async claimOutbox(options: ClaimOptions): Promise<OutboxLease[]> {
    this.checkLimit('limit', options.limit);
    if (!(options.leaseMs > 0))
      throw new ValidationError('leaseMs', `must be > 0, got ${options.leaseMs}`, {
        component: POSTGRES_COMPONENT,
      });
    return this.#read('claimOutbox', async (db) => {
      const rows = await this.q.claim(
        db,
        options.owner,
        options.now,
        options.now + options.leaseMs,
        options.limit,
      );
      return rows
        .map(toOutboxLease)
        .sort(
          (a, b) =>
            a.nextAttemptAt - b.nextAttemptAt ||
            a.enqueuedAt - b.enqueuedAt ||
            (a.recordId < b.recordId ? -1 : a.recordId > b.recordId ? 1 : 0),
        );
    });
  }

  /**
   * Acknowledges deliveries in one transaction, holding the advisory locks of all their ids (see "Locking"),
   * each ack in order:
   * - token no longer on the entry (lease expired and re-claimed, or entry gone) → `'lease-lost'`, and the
   *   record's current state is enqueued (as {@link enqueueRepairs});
   * - entry version newer than `appliedVersion` → `'superseded'`: lease cleared, entry claimable now;
   * - otherwise → `'acked'`: entry deleted, and a tombstone at `appliedVersion` or older is purged.
   *
   * `syncedVersion` of the record is raised to `appliedVersion` for `'acked'` and `'superseded'`.
   */
  override async ackOutbox(acks: readonly OutboxAck[], now: number): Promise<AckOutcome[]> {
    // The same id more than once: the generic path applies the acks one after the other.
    if (acks.length === 0 || new Set(acks.map((a) => a.recordId)).size !== acks.length)
      return super.ackOutbox(acks, now);
    return this.#locked(
      'ackOutbox',
      acks.map((a) => a.recordId),
      (conn) => this.#ackDistinct(conn, acks, now),
    );
  }

  /** Fast path of the ledger's renewal: every lease still held on a pending entry extended in one statement. */
  override async renewOutbox(
    leases: readonly Pick<OutboxLease, 'recordId' | 'leaseToken'>[],
    leaseUntil: number,
  ): Promise<string[]> {
    if (leases.length === 0) {
      this.#use('renewOutbox');
      return [];
    }
    return this.#read('renewOutbox', (db) => this.q.renewLeases(db, leases, leaseUntil));
  }

  /** Fast path of the ledger's release: every lease still held given back in one statement. */
  override async releaseOutbox(
    leases: readonly Pick<OutboxLease, 'recordId' | 'leaseToken'>[],
    retryAt: number,
  ): Promise<void> {
    if (leases.length === 0) {
      this.#use('releaseOutbox');
      return;
    }
    await this.#read('releaseOutbox', (db) => this.q.releaseLeases(db, leases, retryAt));
  }

  /** Inserts or replaces cache entries in one statement (a key given twice: the last one wins). */
  async putCachedEmbeddings(
    entries: readonly { key: string; embedding: readonly number[] }[],
  ): Promise<void> {
    if (entries.length === 0) {
      this.#use('putCachedEmbeddings');
      return;
    }
    await this.#read('putCachedEmbeddings', (db) => this.q.putCachedEmbeddings(db, entries));
  }

  /**
   * Calls `listener` soon after any process commits an outbox enqueue (`LISTEN` on
   * {@link PostgresTableNames.notifyChannel}, on a dedicated connection; PostgreSQL docs, "NOTIFY":
   * notifications are delivered between transactions, only for committed transactions, and in commit order).
   * The connection reconnects by itself after errors (backoff 250 ms doubling to 5 s) and then calls `listener`
   * once, since notifications sent meanwhile are lost. Delivery is a hint, never a guarantee: keep polling.
   *
   * Resolves to an unsubscribe function that closes the connection (idempotent). {@link close} closes every
   * subscription too.
   * @throws {BackendUnavailableError} when the first connection cannot be opened.
   * @throws {ClosedError} after {@link close}.
   */
  async subscribeOutbox(listener: () => void): Promise<() => Promise<void>> {
    this.#use('subscribeOutbox');
    const subscription = new PostgresOutboxListener(
      this.#options.poolConfig,
      this.tableNames.notifyChannel,
      listener,
    );
    await subscription.start();
    if (this.#closed) {
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
   * Closes the notification connections, then ends the pool once the operations running now have returned
   * their connections. Idempotent; every other method throws `ClosedError` afterwards.
   */
  async close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#assertNotInTransaction('close');
    this.#closed = true;
    const db = this.#db;
    this.#db = undefined;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    this.#closing = (async () => {
      await Promise.all(listeners.map((l) => l.close()));
      if (db !== undefined) await db.destroy().catch(() => {});
    })();
    return this.#closing;
  }

  // -- internals -----------------------------------------------------------------------------------

  #assertNotInTransaction(operation: string): void {
    if (activeTransaction.getStore() === this)
      throw new Error(
        `[dualwrite] [postgres] ${operation}() called inside transaction() of the same store; ` +
          'it would run on another connection, outside the transaction — use the tx argument',
      );
  }

  /** The Kysely instance, creating the pool on first use. */
  #use(operation: string): PostgresKysely {
    if (this.#closed) throw new ClosedError('PostgresRelationalStore', { component: POSTGRES_COMPONENT });
    this.#assertNotInTransaction(operation);
    if (this.#db !== undefined) return this.#db;
    const pool = new pg.Pool(this.#options.poolConfig);
    // An idle client whose connection dies emits 'error' on the pool (which then discards it); without a
    // handler Node would crash the process. The next query opens a new connection.
    pool.on('error', () => {});
    this.#db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
    return this.#db;
  }

  protected override async enqueued(conn: PostgresKysely): Promise<void> {
    if (this.#options.notify) await this.q.notify(conn);
  }

  protected read<T>(operation: string, fn: (db: PostgresKysely) => Promise<T>): Promise<T> {
    return this.#read(operation, fn);
  }

  /** One READ COMMITTED transaction holding the advisory locks of `lockIds` (see "Locking"). */
  protected write<T>(
    operation: string,
    lockIds: readonly string[],
    fn: (db: PostgresKysely) => Promise<T>,
  ): Promise<T> {
    return lockIds.length > 0 ? this.#locked(operation, lockIds, fn) : this.#transaction(operation, fn);
  }

  protected assertUsable(operation: string): void {
    this.#use(operation);
  }

  /** Runs one statement (or independent reads) outside an explicit transaction. */
  async #read<T>(operation: string, fn: (db: PostgresKysely) => Promise<T>): Promise<T> {
    const db = this.#use(operation);
    try {
      return await fn(db);
    } catch (error) {
      throw mapPostgresError(error, operation);
    }
  }

  /**
   * Runs `fn` in one READ COMMITTED transaction: COMMIT when it resolves, ROLLBACK when it throws. Errors of
   * `fn` are mapped with {@link mapPostgresError} when `mapErrors` (the store's own operations) and rethrown
   * unchanged otherwise (application callbacks).
   */
  async #transaction<T>(
    operation: string,
    fn: (trx: ControlledTransaction<unknown>) => Promise<T>,
    mapErrors = true,
  ): Promise<T> {
    const db = this.#use(operation);
    let trx: ControlledTransaction<unknown>;
    try {
      trx = await db.startTransaction().setIsolationLevel('read committed').execute();
    } catch (error) {
      throw mapPostgresError(error, `${operation}: BEGIN`);
    }
    let result: T;
    try {
      result = await activeTransaction.run(this, () => fn(trx));
    } catch (error) {
      await rollbackQuietly(trx);
      throw mapErrors ? mapPostgresError(error, operation) : error;
    }
    try {
      await trx.commit().execute();
    } catch (error) {
      await rollbackQuietly(trx);
      throw mapPostgresError(error, `${operation}: COMMIT`);
    }
    return result;
  }

  /**
   * Runs `fn` in a transaction that holds the advisory locks of `ids` (see "Locking"). With one id it waits
   * for the lock (holding nothing else, it cannot deadlock). With several it tries them all
   * (`pg_try_advisory_xact_lock`), and if any is held by another transaction rolls back, sleeps 1, 2, 4, ...
   * ms and tries again; after {@link TRY_LOCK_WINDOW_MS} it waits for them in the order core's writers take them (ids sorted).
   */
  async #locked<T>(
    operation: string,
    ids: readonly string[],
    fn: (conn: PostgresKysely) => Promise<T>,
  ): Promise<T> {
    const distinct = [...new Set(ids)];
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      const block = distinct.length === 1 || Date.now() - started >= TRY_LOCK_WINDOW_MS;
      const result = await this.#transaction(operation, async (conn) => {
        if (block) await this.q.lockRecords(conn, distinct);
        else if (!(await this.#tryLockRecords(conn, distinct))) return RETRY;
        return fn(conn);
      });
      if (result !== RETRY) return result as T;
      await sleep(Math.min(2 ** attempt, 32) * (0.5 + Math.random()));
    }
  }

  /**
   * {@link ackOutbox} for acks of distinct ids, in a handful of set-based statements whatever their number (the
   * entries locked `FOR UPDATE`, `syncedVersion` raised, superseded leases cleared, acked entries deleted and
   * their tombstones purged); lost leases are repaired one by one. With distinct ids the acks do not affect
   * each other, so the outcome equals applying them in order.
   */
  async #ackDistinct(conn: PostgresKysely, acks: readonly OutboxAck[], now: number): Promise<AckOutcome[]> {
    const entries = new Map(
      (
        await this.q.lockOutboxRows(
          conn,
          acks.map((a) => a.recordId),
        )
      ).map((row) => [row.record_id, row]),
    );
    const outcomes: AckOutcome[] = [];
    const applied: OutboxAck[] = [];
    const superseded: string[] = [];
    const done: OutboxAck[] = [];
    const lost: string[] = [];
    for (const ack of acks) {
      const entry = entries.get(ack.recordId);
      if (entry === undefined || entry.lease_token === null || entry.lease_token !== ack.leaseToken) {
        lost.push(ack.recordId);
        outcomes.push('lease-lost');
        continue;
      }
      applied.push(ack);
      if (int(entry.version) > ack.appliedVersion) {
        superseded.push(ack.recordId);
        outcomes.push('superseded');
      } else {
        done.push(ack);
        outcomes.push('acked');
      }
    }
    await this.q.markSyncedMany(
      conn,
      applied.map((a) => a.recordId),
      applied.map((a) => a.appliedVersion),
    );
    await this.q.clearLeases(conn, superseded, now);
    await this.q.completeDeliveries(
      conn,
      done.map((a) => a.recordId),
      done.map((a) => a.appliedVersion),
    );
    const tx = new SqlLedgerTx(conn, this.q);
    for (const id of lost) await enqueueRepair(tx, id, now);
    if (lost.length > 0) await this.enqueued(conn);
    return outcomes;
  }

  async #tryLockRecords(conn: PostgresKysely, ids: readonly string[]): Promise<boolean> {
    const keys = [...new Set(ids.map((id) => this.q.lockKey(id)))].sort((a, b) => a - b);
    const { rows } = await sql<{ ok: boolean }>`
      SELECT bool_and(pg_try_advisory_xact_lock(${this.q.lockClass}::int4, k)) AS ok
      FROM unnest(${keys}::int4[]) AS t(k)`.execute(conn);
    return rows[0]?.ok === true;
  }
}
