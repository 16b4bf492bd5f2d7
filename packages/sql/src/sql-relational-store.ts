import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AckOutcome,
  ackDelivery,
  type Change,
  type ClaimOptions,
  ClosedError,
  changeId,
  checkClaimOwners,
  checkStoreCount,
  checkStoreMark,
  checkStoreTime,
  checkStoreVersion,
  checkSyncedRange,
  compareIds,
  type EmbeddingUpdate,
  enqueueRepair,
  failDelivery,
  type IntentCommit,
  type IntentCommitOptions,
  type OutboxAck,
  type OutboxEntry,
  type OutboxFailure,
  type OutboxLease,
  type OutboxStats,
  type RecordVersion,
  type RelationalStore,
  type RelationalTx,
  type ReleaseOptions,
  type StoredRecord,
  type SyncedOrder,
  type SyncedVersion,
  supersedes,
  TransientBackendError,
  type TwoPhaseIntent,
  ValidationError,
  validateMetaKey,
  type WriteResult,
  writeChangesWithOutbox,
} from '@dualwrite/core';
import {
  type ControlledTransaction,
  type IsolationLevel,
  isAbortedTransactionError,
  type KyselyConfig,
} from 'kysely';
import {
  abortedTransaction,
  type DriverErrorTable,
  isLostConnection,
  mapDriverError,
  RecordsBusy,
} from './sql-errors.js';
import { SqlLedgerTx } from './sql-ledger-tx.js';
import type { SqlDb, SqlQueries } from './sql-queries.js';
import { toOutboxLease } from './sql-rows.js';
import { refuseUnstorable, SqlTx, type SqlTxHooks } from './sql-tx.js';

/** Largest `limit` of the listing methods and of claims. */
export const SQL_MAX_PAGE = 10_000;

/** A lease as the release and renewal methods take it. */
type LeaseRef = Pick<OutboxLease, 'recordId' | 'leaseToken'>;

/**
 * The relational store written once for every SQL dialect: every `RelationalStore` method that is the same
 * SQL and the same outbox rule everywhere (records, the outbox ledger through core's rules, dead letters,
 * gauges, intents, the embedding cache's reads, meta). A dialect subclass supplies how it runs SQL —
 * {@link read} (one statement or independent reads), {@link write} (one write transaction holding the
 * given records' locks) — and what only it can do: `init`, `transaction`, the claim, the cache write,
 * `close`, and fast paths (set-based acks, NOTIFY).
 *
 * Outcomes follow `contracts/relational-store.ts` and the ledger (`outbox/outbox-ledger.ts` in core);
 * the contract suite's differential check compares every dialect with the in-memory reference model.
 */
/**
 * Characters the values of `changes` take in one statement, at most: ids, text and metadata twice (quotes and
 * backslashes escaped), 9 per embedding component (8 hex digits of a float32 and a separator), 64 per row for
 * the rest. Puts are given as changes, or as the records sync-2pc commits.
 */
export function statementChars(
  changes: readonly (
    | Change
    | { record: { id: string; text: string; metadata: object; embedding?: readonly number[] | null } }
  )[],
): number {
  let chars = 0;
  for (const change of changes) {
    const record = 'record' in change ? change.record : undefined;
    chars += 64 + 2 * (record?.id ?? changeId(change as Change)).length;
    if (record)
      chars +=
        2 * (record.text.length + JSON.stringify(record.metadata).length) +
        9 * (record.embedding?.length ?? 0);
  }
  return chars;
}

/** Marker a locked operation returns when a try-lock failed and it must run again. */
const RETRY = Symbol('retry');

/**
 * How a dialect's one-statement write takes the per-record locks of its ids: `'wait'` for them (one id: holding
 * nothing else, it cannot deadlock), or `'try'` them without waiting (several ids) and throw
 * {@link RecordsBusy} when another transaction holds one.
 */
export type RecordLocking = 'wait' | 'try';

/** A transaction of a store, as the async context its callback runs in sees it. */
interface TransactionScope {
  readonly store: SqlRelationalStore;
  /** The driver error of a statement in it that the server answered by rolling the whole transaction back. */
  rolledBackBy?: unknown;
}

/**
 * Which store's transaction the current async context runs in (detects calls that would deadlock), and what
 * its statements met ({@link SqlRelationalStore.rollbackWatch}).
 */
const activeTransaction = new AsyncLocalStorage<TransactionScope>();

/** Longest wait of `close()` for running operations before it ends the connection or pool anyway, ms. */
export const CLOSE_WAIT_MS = 30_000;

/**
 * How long a multi-record store operation (`ackOutbox`, `enqueueRepairs`) keeps trying the
 * records' locks without waiting (rolling back in between, with a short backoff) before it waits for each busy
 * lock alone between tries, ms. Only where the dialect has a try-lock ({@link SqlRelationalStore.tryLockRecords}).
 */
export const TRY_LOCK_WINDOW_MS = 250;

/** How many times the store runs one of its own write transactions again after the server broke a deadlock. */
export const DEADLOCK_RETRIES = 3;

/**
 * How many times a read runs again when the connection it ran on turns out to be gone (see
 * `SqlRelationalStore.readOnly`): a pool may hold several idle connections a restart or a kill ended at once.
 */
export const LOST_CONNECTION_RETRIES = 3;

/**
 * The relational store written once for every SQL dialect: the store's life (opened on first use, `close`,
 * `ClosedError` afterwards, calls from inside its own transaction refused), transactions, per-record locks,
 * and every `RelationalStore` method that is the same SQL and the same outbox rule everywhere (records, the
 * outbox ledger through core's rules, claims, dead letters, gauges, intents, the embedding cache, meta).
 * A dialect subclass supplies how it connects ({@link open}, {@link shutdown}), begins and ends a
 * transaction, maps driver errors, migrates ({@link init}), and its fast paths (a one-statement claim,
 * set-based acks, NOTIFY).
 *
 * Outcomes follow `contracts/relational-store.ts` and the ledger (`outbox/outbox-ledger.ts` in core);
 * the contract suite's differential check compares every dialect with the in-memory reference model.
 */
export abstract class SqlRelationalStore<Db extends SqlDb = SqlDb> implements RelationalStore<Db> {
  abstract readonly name: string;

  /** The dialect's statements. */
  protected abstract readonly q: SqlQueries;

  /** Component name carried by this store's errors: its {@link name} (`'sqlite'`, `'postgres'`). */
  protected get component(): string {
    return this.name;
  }

  /** Whether record text may hold U+0000 (PostgreSQL `text` cannot). */
  protected readonly nulInText: boolean = true;

  /**
   * Whether a statement outside a transaction waits for a row lock at most the store's lock timeout (MySQL's
   * session `innodb_lock_wait_timeout`, SQLite's busy timeout). PostgreSQL sets `lock_timeout` per transaction
   * (`SET LOCAL`, which a pooler in transaction mode keeps), so there a lone row write runs in one: alone, an
   * `UPDATE` waited for as long as another session held its row, holding a pool connection, and with the pool
   * full the application's own writes failed (helper-68). Every single-statement row write goes through
   * {@link rowWrite}, which honours this.
   */
  protected readonly lockTimeoutOutsideTransactions: boolean = true;

  /** Longest id the dialect's id column holds, in UTF-8 bytes (MySQL `VARBINARY(1536)`); none when unset. */
  protected readonly maxIdBytes: number | undefined = undefined;

  /**
   * Most characters of values ({@link statementChars}) the dialect's one-statement write of a batch carries; a
   * larger batch takes the transaction path, a statement per record. Unbounded where the fast path splits its
   * messages itself.
   */
  protected readonly maxStatementChars: number = Number.POSITIVE_INFINITY;

  #db: Db | undefined;
  #closed = false;
  /** Set once a one-statement claim met a serialization failure: claims run in a transaction from then on. */
  #claimInTransaction = false;
  #closing: Promise<void> | undefined;
  /** Operations running now (see {@link track}); {@link close} waits for them. */
  readonly #running = new Set<Promise<unknown>>();

  /** How the dialect's driver reports failures (transient, unavailable). */
  protected abstract readonly errors: DriverErrorTable;

  /** Maps a driver error to core's typed errors by {@link errors} (returns it; never throws). */
  protected mapError(error: unknown, operation: string): unknown {
    return mapDriverError(error, operation, this.errors);
  }

  /** Opens the connection or pool (called once, by the first call that needs it). */
  protected abstract open(): Db;

  /** Ends the connection or pool after {@link close} (running operations first return theirs). */
  protected abstract shutdown(db: Db): Promise<void>;

  /**
   * Isolation level the default {@link inTransaction} sets on BEGIN (whatever the server default), or
   * `undefined` where the dialect sets it once per connection instead (MySQL: one round trip less per
   * transaction).
   */
  protected readonly isolation: IsolationLevel | undefined = 'read committed';

  /**
   * Runs `fn` on one pooled connection between BEGIN (at {@link isolation}) and COMMIT, through Kysely's
   * controlled transaction; ROLLBACK when `fn` throws, rethrowing its error unchanged. A BEGIN that meets a
   * connection the server ended runs again on another (up to {@link LOST_CONNECTION_RETRIES} times). SQLite
   * overrides it.
   */
  protected async inTransaction<T>(db: Db, operation: string, fn: (conn: Db) => Promise<T>): Promise<T> {
    let trx: ControlledTransaction<unknown>;
    try {
      // Nothing of the transaction ran before its BEGIN: on a connection the server ended it runs again on another.
      trx = await this.#againOnLostConnection(() => {
        const begin = db.startTransaction();
        return (this.isolation === undefined ? begin : begin.setIsolationLevel(this.isolation)).execute();
      });
    } catch (error) {
      throw this.mapError(error, `${operation}: BEGIN`);
    }
    const rollback = () =>
      trx
        .rollback()
        .execute()
        .catch(() => {}); // the connection may be gone already
    let result: T;
    try {
      result = await fn(trx as unknown as Db);
    } catch (error) {
      await rollback();
      throw error;
    }
    try {
      await trx.commit().execute();
    } catch (error) {
      await rollback();
      if (isAbortedTransactionError(error)) throw abortedTransaction(this.name, error);
      throw this.mapError(error, `${operation}: COMMIT`);
    }
    return result;
  }

  /**
   * Tries the per-record locks of `ids` without waiting; `false` when another transaction holds one.
   * Dialects without a try-lock leave it undefined and multi-record operations wait in their lock order.
   */
  protected tryLockRecords?(conn: Db, ids: readonly string[]): Promise<boolean>;

  /** Called inside a write transaction that enqueued outbox work (PostgreSQL: `NOTIFY`). Default: nothing. */
  protected async enqueued(_db: SqlDb): Promise<void> {}

  /** A transaction object for `transaction(fn)` (SQLite: prepared statements on the write path). */
  protected newTx(conn: Db): SqlTx {
    return new SqlTx(conn, this.q, this.txHooks);
  }

  /** The hooks {@link SqlTx} runs with. */
  protected get txHooks(): SqlTxHooks {
    return {
      component: this.component,
      mapError: (error, operation) => this.mapError(error, operation),
      nextVersion: (db, atLeast) => this.q.nextVersion(db, atLeast),
      enqueued: (db) => this.enqueued(db),
      nulInText: this.nulInText,
      maxIdBytes: this.maxIdBytes,
    };
  }

  abstract init(): Promise<void>;

  /**
   * The store's Kysely instance (opened on first use), for application queries outside store transactions.
   * Inside {@link transaction} use `tx.native`.
   * @throws {ClosedError} after {@link close}.
   */
  get kysely(): Db {
    return this.use('kysely');
  }

  /** The open Kysely instance, opening it on first use. @throws {ClosedError} after {@link close}. */
  protected use(operation: string): Db {
    if (this.#closed) throw new ClosedError(this.constructor.name, { component: this.component });
    this.assertNotInTransaction(operation);
    this.#db ??= this.open();
    return this.#db;
  }

  /** Throws what `read` would for an unusable store (closed, called inside a transaction callback). */
  protected assertUsable(operation: string): void {
    this.use(operation);
  }

  /** `true` once {@link close} was called. */
  protected get closed(): boolean {
    return this.#closed;
  }

  protected assertNotInTransaction(operation: string): void {
    if (activeTransaction.getStore()?.store === this)
      throw new Error(
        `[dualwrite] [${this.component}] ${operation}() called inside transaction() of the same store; ` +
          'the transaction holds its own connection, so this would deadlock or miss its writes — use the tx argument',
      );
  }

  /**
   * Runs `fn` on the store's connection outside an explicit transaction (one statement, or reads that
   * need no common snapshot), mapping driver errors to core's typed errors.
   * @throws {ClosedError} after `close()`.
   */
  protected async read<T>(operation: string, fn: (db: Db) => Promise<T>): Promise<T> {
    const db = this.use(operation);
    return this.track(async () => {
      try {
        return await fn(db);
      } catch (error) {
        throw this.mapError(error, operation);
      }
    });
  }

  /**
   * {@link read} for an `fn` that only reads: when the connection it ran on turns out to be gone ({@link
   * isLostConnection}) it runs again on another, at most {@link LOST_CONNECTION_RETRIES} times, after 5, 10, 20 ms
   * (the driver meanwhile reads what the server sent the pool's other idle connections, and the pool drops the
   * dead ones). A pool hands out an idle connection the server killed or restarted under it when the
   * driver has not read the news yet: the first read after a `pg_terminate_backend` or a server restart failed,
   * and `flush()` threw `BackendUnavailableError` with the database up (found by killing a store's connections
   * every 300 ms under a put loop). Never for writes and claims, whose first run may have committed.
   * @throws {ClosedError} after `close()`.
   */
  protected readOnly<T>(operation: string, fn: (db: Db) => Promise<T>): Promise<T> {
    return this.#againOnLostConnection(() => this.read(operation, fn));
  }

  /**
   * Runs `attempt`, and again after 5, 10, 20 ms while it fails on a connection the server ended ({@link
   * isLostConnection}), at most {@link LOST_CONNECTION_RETRIES} times; only for work whose failed run did
   * nothing (a read, a BEGIN).
   */
  async #againOnLostConnection<T>(attempt: () => Promise<T>): Promise<T> {
    for (let tries = 0; ; tries++)
      try {
        return await attempt();
      } catch (error) {
        if (tries >= LOST_CONNECTION_RETRIES || !isLostConnection(this.errors, error)) throw error;
        await sleep(5 * 2 ** tries);
      }
  }

  /** Runs `fn` as one of the store's running operations, which {@link close} waits for. */
  protected track<T>(fn: () => Promise<T>): Promise<T> {
    const running = fn();
    this.#running.add(running);
    const done = () => this.#running.delete(running);
    running.then(done, done);
    return running;
  }

  /**
   * Runs `fn` in one transaction ({@link inTransaction}); errors of `fn` are mapped when `mapErrors` (the
   * store's own operations) and rethrown unchanged otherwise (application callbacks).
   */
  protected async transact<T>(operation: string, fn: (conn: Db) => Promise<T>, mapErrors = true): Promise<T> {
    const db = this.use(operation);
    let failedInCallback = false;
    const scope: TransactionScope = { store: this };
    return this.track(async () => {
      try {
        return await this.inTransaction(db, operation, async (conn) => {
          try {
            return await activeTransaction.run(scope, () => fn(conn));
          } catch (error) {
            failedInCallback = true;
            throw error;
          }
        });
      } catch (error) {
        const thrown = failedInCallback && !mapErrors ? error : this.mapError(error, operation);
        throw scope.rolledBackBy !== undefined &&
          thrown instanceof ValidationError &&
          thrown.field === 'uow.db'
          ? this.#rolledBack(operation, scope.rolledBackBy)
          : thrown;
      }
    });
  }

  /**
   * The dialect's Kysely `log` and `plugins` (PostgreSQL, MySQL): they note a statement's failure that rolled
   * back the whole transaction it ran in — a deadlock victim on MySQL and MariaDB, a deadlock or serialization
   * failure on PostgreSQL — also one on `uow.db` whose error the application's callback caught before going on.
   * The transaction's later statements are then refused with a retryable `TransientBackendError` (MySQL would
   * run them outside any transaction, each committed on its own), and so is `transaction()` itself, where the
   * record write or COMMIT that follows would otherwise fail as if a statement had ended the transaction.
   */
  protected get rollbackWatch(): Pick<KyselyConfig, 'log' | 'plugins'> {
    return {
      log: (event) => {
        const scope = activeTransaction.getStore();
        if (event.level === 'error' && scope?.store === this && this.#deadlocked(event.error))
          scope.rolledBackBy ??= event.error;
      },
      plugins: [
        {
          transformQuery: ({ node }) => {
            const scope = activeTransaction.getStore();
            if (scope?.store === this && scope.rolledBackBy !== undefined)
              throw this.#rolledBack('transaction', scope.rolledBackBy);
            return node;
          },
          transformResult: async ({ result }) => result,
        },
      ],
    };
  }

  /** What a transaction the server rolled back throws ({@link rollbackWatch}). */
  #rolledBack(operation: string, cause: unknown): TransientBackendError {
    const code = this.errors.codeOf(cause);
    return new TransientBackendError(
      `${operation} failed, try again (${code}): the database rolled the whole transaction back to break a ` +
        'deadlock or a serialization conflict (a statement in it failed with this error and the callback went ' +
        'on), so nothing of it was written; run the whole transaction again',
      { cause, component: this.component },
    );
  }

  /**
   * Runs `fn` in one write transaction that holds the per-record locks of `lockIds` (where the dialect locks
   * records). With one id it waits for the lock (holding nothing else, it cannot deadlock). With several, a
   * dialect that can try locks tries them all and, if one is taken, rolls back and tries again: after 1, 2, 4, …
   * ms for {@link TRY_LOCK_WINDOW_MS}, then after waiting for each id's lock in a transaction of its own. It
   * never waits while it holds a lock, so it cannot close a deadlock cycle with an application transaction that
   * takes the same ids in another order (waiting for them all in lock order did, once the application held one
   * past the window). Without a try-lock it waits for them in the dialect's lock order
   * (`SqlQueries.lockRecords`), the order every multi-id write takes them.
   * @throws {ClosedError} after `close()`.
   */
  protected async write<T>(
    operation: string,
    lockIds: readonly string[],
    fn: (db: Db) => Promise<T>,
  ): Promise<T> {
    const distinct = [...new Set(lockIds)];
    if (!this.q.locksRecords || distinct.length === 0) return this.transact(operation, fn);
    return this.withRecordLocks(operation, distinct, (locking) =>
      this.transact(operation, async (conn) => {
        if (locking === 'wait') await this.q.lockRecords(conn, distinct);
        else if (!(await this.tryLockRecords!(conn, distinct))) return RETRY;
        return fn(conn);
      }),
    );
  }

  /**
   * Runs `attempt`, which takes the per-record locks of `ids` itself, so that it never waits for a lock while
   * holding another: with one id (or no try-lock in the dialect) it runs once with `'wait'`; with several it
   * runs with `'try'` and, while it returns `RETRY` or throws {@link RecordsBusy}, again after 1, 2, 4, … ms for
   * {@link TRY_LOCK_WINDOW_MS}, then after waiting for each id's lock in a transaction of its own. (Waiting for
   * them all in lock order closed deadlock cycles with application transactions that take the same ids in
   * another order: on MariaDB and PostgreSQL about one `putMany` in ten failed with a deadlock under four
   * processes mixing `putMany` and `dw.transaction` over 30 ids.)
   */
  protected async withRecordLocks<T>(
    operation: string,
    ids: readonly string[],
    attempt: (locking: RecordLocking) => Promise<T | typeof RETRY>,
  ): Promise<T> {
    if (this.tryLockRecords === undefined || ids.length <= 1)
      return (await this.#againIfDeadlocked(() => attempt('wait'))) as T;
    const started = Date.now();
    for (let tries = 0; ; tries++) {
      const result = await this.#againIfDeadlocked(() => attempt('try')).catch((error: unknown) => {
        if (error instanceof RecordsBusy) return RETRY;
        throw error;
      });
      if (result !== RETRY) return result as T;
      if (Date.now() - started < TRY_LOCK_WINDOW_MS)
        await sleep(Math.min(2 ** tries, 32) * (0.5 + Math.random()));
      else
        for (const id of ids)
          await this.#againIfDeadlocked(() =>
            this.transact(operation, (conn) => this.q.lockRecords(conn, [id])),
          );
    }
  }

  /**
   * Runs `fn`, one of the store's own write transactions, again (up to {@link DEADLOCK_RETRIES} times, after a
   * few ms) when the server rolled it back to break a deadlock: nothing of it was written. Even a transaction
   * waiting for its first lock can be the victim — PostgreSQL picks a waiter queued behind two application
   * transactions that deadlock with each other (seen: single-id waits failing with 40P01 beside
   * `dw.transaction`s taking ids in random order).
   */
  async #againIfDeadlocked<R>(fn: () => Promise<R>): Promise<R> {
    for (let retries = 0; ; retries++)
      try {
        return await fn();
      } catch (error) {
        if (retries >= DEADLOCK_RETRIES || !this.#deadlocked(error)) throw error;
        await sleep(2 ** retries * (0.5 + Math.random()));
      }
  }

  /** Whether `error` (mapped, with the driver's error as its `cause`) says the server broke a deadlock. */
  #deadlocked(error: unknown): boolean {
    const code = this.errors.codeOf((error as { cause?: unknown } | null)?.cause ?? error);
    return code !== undefined && (this.errors.deadlock?.includes(code) ?? false);
  }

  /**
   * Runs `fn` in one transaction; commits when it resolves, rolls back when it throws and rethrows `fn`'s
   * error unchanged. Do not nest, and do not call other methods of this store inside `fn` (use `tx`).
   * @throws {TransientBackendError} when the transaction cannot begin or commit for a lock or conflict.
   * @throws {BackendUnavailableError} when the database cannot be reached or breaks at COMMIT.
   */
  async transaction<T>(fn: (tx: RelationalTx<Db>) => Promise<T>): Promise<T> {
    return this.transact('transaction', (conn) => this.#onTx(conn, fn), false);
  }

  /**
   * Runs `fn` with a transaction object on `conn`, a connection inside a transaction (finished after), between
   * the dialect's {@link transactionBegan} and {@link transactionEnding} (their driver errors mapped; `fn`'s
   * errors pass unchanged).
   */
  async #onTx<T>(conn: Db, fn: (tx: RelationalTx<Db>) => Promise<T>): Promise<T> {
    let tx: SqlTx;
    try {
      tx = this.newTx(conn); // SQLite prepares its statements on first use: fails while the schema is missing
    } catch (error) {
      throw this.mapError(error, 'transaction: BEGIN');
    }
    try {
      await this.#mapped('transaction: check at BEGIN', () => this.transactionBegan(tx));
      const result = await fn(tx as unknown as RelationalTx<Db>);
      await this.#mapped('transaction: check before COMMIT', () => this.transactionEnding(tx));
      return result;
    } finally {
      tx.finish();
    }
  }

  async #mapped(operation: string, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      throw this.mapError(error, operation);
    }
  }

  /**
   * Dialect hook, run right after {@link transaction} began, before its callback: where the dialect marks the
   * transaction so that {@link transactionEnding} can tell it from one the application began after ending it
   * (SQLite, MySQL: a savepoint). Default: nothing.
   */
  protected async transactionBegan(_tx: SqlTx): Promise<void> {}

  /**
   * Dialect hook, run before {@link transaction} commits: throws `transactionEnded`'s `ValidationError` when a
   * statement the callback ran on `uow.db` ended the transaction (a `COMMIT`, a `ROLLBACK`, MySQL's implicit
   * commits). Default: nothing.
   */
  protected async transactionEnding(_tx: SqlTx): Promise<void> {}

  /**
   * For a dialect's `writeChanges`: runs `batch` (its few-round-trip write of a batch, each id at most once)
   * on the open store with the batch's ids sorted (UTF-16 code units, the order core's writers lock them in)
   * and how it takes their locks ({@link withRecordLocks}: `'try'` for several ids, where the dialect can),
   * or the transaction path (`writeChangesWithOutbox`) for a batch that changes an id more
   * than once (writing only an id's last row would skip, e.g., a tombstone's `createdAt` reset in between) or
   * carries more than {@link maxStatementChars}.
   * @throws {ValidationError} for a put whose text holds U+0000 where the dialect cannot store it
   *   ({@link nulInText}), an id longer than the id column holds ({@link maxIdBytes}), or a `now` that is not
   *   whole Unix ms ({@link checkTime}), before anything runs.
   * @throws {ClosedError} after {@link close}.
   */
  protected async writeBatch(
    changes: readonly Change[],
    now: number,
    batch: (db: Db, sortedIds: string[], locking: RecordLocking) => Promise<WriteResult[]>,
  ): Promise<WriteResult[]> {
    this.checkTime(now, 'now');
    this.refuseUnstorableChanges(changes);
    const db = this.use('writeChanges');
    if (changes.length === 0) return [];
    const ids = changes.map(changeId);
    if (new Set(ids).size !== ids.length || statementChars(changes) > this.maxStatementChars)
      // The transaction path, under locks taken as a multi-id write takes them (never waiting while holding).
      return this.write('writeChanges', ids, (conn) =>
        this.#onTx(conn, (tx) => writeChangesWithOutbox(tx, changes, now)),
      );
    const sorted = ids.sort(compareIds);
    return this.track(() =>
      this.withRecordLocks('writeChanges', sorted, (locking) => batch(db, sorted, locking)),
    );
  }

  /**
   * Refuses a change whose id or text the dialect cannot store ({@link nulInText}, {@link maxIdBytes}), before
   * anything runs (a fast path that writes in SQL would otherwise fail half-way, or later).
   * @throws {ValidationError} on field `id` or `text`.
   */
  protected refuseUnstorableChanges(changes: readonly Change[]): void {
    const rules = this.txHooks;
    for (const change of changes)
      if (change.op === 'put') refuseUnstorable(rules, change.record.id, change.record.text);
      else refuseUnstorable(rules, change.id);
  }

  /**
   * Claims up to `limit` due entries: pending, `nextAttemptAt <= now`, no lease or `leaseUntil <= now`,
   * ordered by `nextAttemptAt` then `enqueuedAt`. Each gets a fresh random `leaseToken` (UUID v4),
   * `leaseOwner = owner` and `leaseUntil = now + leaseMs`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000, `now` is not whole Unix ms, or
   *   `leaseMs` is not a whole number of ms ≥ 1 (its lease ending within Unix ms 2^53-1).
   */
  async claimOutbox(options: ClaimOptions): Promise<OutboxLease[]> {
    this.checkLimit('limit', options.limit);
    this.checkTime(options.now, 'now');
    checkStoreCount(options.leaseMs, 'leaseMs', this.component);
    this.checkTime(options.now + options.leaseMs, 'leaseMs');
    return this.claim(options);
  }

  /**
   * The claim itself: the dialect's one statement ({@link SqlQueries.claim}) where it has one, its leases
   * ordered by `nextAttemptAt`, then `enqueuedAt`, then id; otherwise one write transaction: the due rows
   * (locked `FOR UPDATE SKIP LOCKED` where rows lock, so concurrent claims skip each other's), then a lease on
   * each in one statement.
   */
  protected claim(options: ClaimOptions): Promise<OutboxLease[]> {
    const { owner, now, leaseMs, limit } = options;
    if (this.q.claim) return this.#claimInOneStatement(options);
    return this.transact('claimOutbox', async (conn) => {
      const due = await this.q.dueOutbox(conn, now, limit);
      return this.q.leaseRows(conn, due, owner, now + leaseMs);
    });
  }

  /**
   * The one-statement claim, alone (one round trip) until it meets a serialization failure: alone it runs at
   * the session's default isolation, and under a REPEATABLE READ or SERIALIZABLE default (a database's, a
   * role's, a pool's) two claims meeting on a row fail instead of skipping it (found by a break-it trial: 34
   * failures among four claimers). From then on it runs in the store's own transaction, at {@link isolation}.
   */
  async #claimInOneStatement(options: ClaimOptions): Promise<OutboxLease[]> {
    if (!this.#claimInTransaction)
      try {
        return await this.read('claimOutbox', (db) => this.#claimOn(db, options));
      } catch (error) {
        if (this.isolation === undefined || !this.#deadlocked(error)) throw error;
        this.#claimInTransaction = true;
      }
    return this.transact('claimOutbox', (conn) => this.#claimOn(conn, options));
  }

  async #claimOn(db: Db, { owner, now, leaseMs, limit }: ClaimOptions): Promise<OutboxLease[]> {
    return (await this.q.claim!(db, { owner, now, leaseUntil: now + leaseMs, limit }))
      .map(toOutboxLease)
      .sort(
        (a, b) =>
          a.nextAttemptAt - b.nextAttemptAt ||
          a.enqueuedAt - b.enqueuedAt ||
          compareIds(a.recordId, b.recordId),
      );
  }

  /**
   * Inserts or replaces cache entries (a key given twice: the last one wins), marked used at `options.usedAt`
   * (Unix ms, a fraction dropped; default this process's clock).
   * @throws {ValidationError} for a `usedAt` that is not Unix ms (core's `checkStoreMark`).
   */
  async putCachedEmbeddings(
    entries: readonly { key: string; embedding: readonly number[] }[],
    options: { usedAt?: number } = {},
  ): Promise<void> {
    const usedAt = options.usedAt ?? Date.now();
    checkStoreMark(usedAt, 'options.usedAt', this.component);
    if (entries.length === 0) return this.assertUsable('putCachedEmbeddings');
    await this.transact('putCachedEmbeddings', (db) => this.q.putCachedEmbeddings(db, entries, usedAt));
  }

  /**
   * Deletes up to `limit` cache entries last used before `usedBefore` (Unix ms), oldest first, in one
   * transaction; an entry marked used again meanwhile stays.
   * @returns how many it deleted.
   * @throws {ValidationError} on `limit` outside 1..10,000, or a `usedBefore` that is not Unix ms (a fraction is
   *   dropped; core's `checkStoreMark`).
   */
  async pruneCachedEmbeddings(usedBefore: number, limit: number): Promise<number> {
    this.checkLimit('limit', limit);
    checkStoreMark(usedBefore, 'usedBefore', this.component);
    return this.transact('pruneCachedEmbeddings', (db) =>
      this.q.pruneCachedEmbeddings(db, usedBefore, limit),
    );
  }

  /**
   * Waits for running operations (at most {@link CLOSE_WAIT_MS}; an application's transaction callback
   * that never settles does not hold it up for ever), then ends the connection or pool ({@link shutdown}).
   * Idempotent; every other method throws `ClosedError` afterwards.
   */
  async close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.assertNotInTransaction('close');
    this.#closed = true;
    const db = this.#db;
    this.#db = undefined;
    this.#closing = (async () => {
      // Operations already running (an application's transaction callback included) finish first: ending
      // the pool under them would fail them (mysql2 ends in-use connections at once).
      const deadline = Date.now() + CLOSE_WAIT_MS;
      while (this.#running.size > 0 && Date.now() < deadline) {
        const timer = new AbortController();
        await Promise.race([
          Promise.allSettled([...this.#running]),
          sleep(deadline - Date.now(), undefined, { signal: timer.signal, ref: false }).catch(() => {}),
        ]);
        timer.abort();
      }
      if (db !== undefined) await this.shutdown(db);
    })();
    return this.#closing;
  }

  /**
   * Refuses a time argument (Unix ms) that is not a whole number in 0..2^53-1 before anything runs (core's
   * `checkStoreTime`: SQLite stored a fraction as `REAL`, and every later read of the file failed on it).
   * @throws {ValidationError} naming `field`.
   */
  protected checkTime(value: unknown, field: string): void {
    checkStoreTime(value, field, this.component);
  }

  /**
   * Refuses a version argument that is not a whole number in 0..2^53-1 before anything runs (core's
   * `checkStoreVersion`).
   * @throws {ValidationError} naming `field`.
   */
  protected checkVersion(value: unknown, field: string): void {
    checkStoreVersion(value, field, this.component);
  }

  /** @throws {ValidationError} when `limit` is not an integer in 1..{@link SQL_MAX_PAGE}. */
  protected checkLimit(field: string, limit: number): void {
    if (!Number.isInteger(limit) || limit < 1 || limit > SQL_MAX_PAGE)
      throw new ValidationError(field, `must be an integer in 1..${SQL_MAX_PAGE}, got ${limit}`, {
        component: this.component,
        limit: `1..${SQL_MAX_PAGE}`,
      });
  }

  /** Runs core's outbox ledger in one {@link write} transaction holding the locks of `lockIds`. */
  protected ledger<T>(
    operation: string,
    lockIds: readonly string[],
    fn: (tx: SqlLedgerTx, db: Db) => Promise<T>,
  ): Promise<T> {
    return this.write(operation, lockIds, (db) => fn(new SqlLedgerTx(db, this.q), db));
  }

  /** Records by id (tombstones only with `includeDeleted`); missing ids are absent. Ids compare exactly. */
  async getRecords(
    ids: readonly string[],
    options: { includeDeleted?: boolean } = {},
  ): Promise<Map<string, StoredRecord>> {
    return this.readOnly('getRecords', async (db) => {
      const records = await this.q.getRecords(db, ids, options.includeDeleted === true);
      return new Map(records.map((r) => [r.id, r]));
    });
  }

  /**
   * Live records ordered by id (code point order), `id > after`, at most `limit`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000.
   */
  async listRecords(options: { after?: string; limit: number }): Promise<StoredRecord[]> {
    this.checkLimit('limit', options.limit);
    return this.readOnly('listRecords', (db) => this.q.listRecords(db, options.after, options.limit));
  }

  /**
   * `(id, version, deleted)` of all rows, tombstones included, ordered by id (code point order), `id > after`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000.
   */
  async listVersions(options: { after?: string; limit: number }): Promise<RecordVersion[]> {
    this.checkLimit('limit', options.limit);
    return this.readOnly('listVersions', (db) => this.q.listVersions(db, options.after, options.limit));
  }

  /** Number of live records (tombstones excluded). */
  async countRecords(): Promise<number> {
    return this.readOnly('countRecords', (db) => this.q.countRecords(db));
  }

  /**
   * Stores embeddings (float32), each if its record is live and still at its version (a concurrent writer's newer
   * version makes that update a no-op); `version`, `updatedAt` and `contentHash` stay. Several: in one transaction
   * that never waits for a row (two statements per 500 records, rows another session holds skipped), so a
   * delivery's whole claim costs one transaction where one per record made embedding on delivery several times
   * slower than delivering the caller's embeddings, and a row held elsewhere holds up no other id's writes (a
   * transaction holding the claim's ids while it waited did: a break-it round saw application writes of other
   * ids wait out, and fail on, the lock timeout). One: a single `UPDATE` that waits for its row at most the lock
   * timeout.
   * @returns per update, in order, `false` when that record moved on, is a tombstone or is gone.
   * @throws {TransientBackendError} when rows were held by another session (several: the others are stored, so
   *   store those again one at a time), or one row stayed locked past the lock timeout.
   * @throws {ValidationError} naming `updates[i].version` when one is not a whole number, before anything runs.
   */
  async setEmbeddings(updates: readonly EmbeddingUpdate[]): Promise<boolean[]> {
    for (const [i, u] of updates.entries()) this.checkVersion(u.version, `updates[${i}].version`);
    if (updates.length === 0) {
      this.assertUsable('setEmbeddings');
      return [];
    }
    if (updates.length === 1) {
      const { id, version, embedding } = updates[0]!;
      return [await this.rowWrite('setEmbeddings', (db) => this.q.setEmbedding(db, id, version, embedding))];
    }
    const { stored, held } = await this.transact('setEmbeddings', (db) => this.q.setEmbeddings(db, updates));
    if (held.length > 0)
      throw new TransientBackendError(
        `setEmbeddings: ${held.length} record row(s) held by another session (${held
          .slice(0, 3)
          .map((id) => JSON.stringify(id))
          .join(', ')}${held.length > 3 ? ', …' : ''}); the others were stored`,
        { component: this.component },
      );
    return updates.map((u) => stored.has(u.id));
  }

  /**
   * Raises `syncedVersion` to `version` if that is higher (a missing record is ignored). Waits for the record's
   * row lock at most the store's lock timeout.
   * @throws {ValidationError} when `version` is not a whole number in 0..2^53-1, before anything runs.
   */
  async markSynced(id: string, version: number): Promise<void> {
    this.checkVersion(version, 'version');
    await this.rowWrite('markSynced', (db) => this.q.markSynced(db, id, version));
  }

  /**
   * Runs `fn`, one statement that writes rows, so that it waits for a row lock at most the store's lock timeout:
   * on its own where the dialect bounds a lone statement's wait, in a transaction where it does not (see
   * {@link lockTimeoutOutsideTransactions}).
   */
  protected rowWrite<T>(operation: string, fn: (db: Db) => Promise<T>): Promise<T> {
    return this.lockTimeoutOutsideTransactions ? this.read(operation, fn) : this.transact(operation, fn);
  }

  /**
   * Acknowledges deliveries in one transaction holding their ids' locks, in order, by core's ledger
   * (`ackDelivery`): a token no longer on the entry → `'lease-lost'` and a repair of the current state;
   * anything enqueued for it meanwhile (core's `supersedes`) → `'superseded'` (lease cleared, claimable now);
   * otherwise `'acked'` (entry deleted, a tombstone at `appliedVersion` or older purged unless a sync-2pc
   * intent for it exists).
   * `syncedVersion` is raised for `'acked'` and `'superseded'`. Acks of distinct ids (the drainers' case) do
   * not affect each other, so they run set-based, a few statements per 500 whatever their number; the
   * contract suite's differential check holds this fast path to the ledger's rule.
   * @throws {ValidationError} for a `now` or an `appliedVersion` that is not whole, before anything runs.
   */
  async ackOutbox(acks: readonly OutboxAck[], now: number): Promise<AckOutcome[]> {
    this.checkAcks(acks, now);
    if (acks.length === 0) {
      this.assertUsable('ackOutbox');
      return [];
    }
    const ids = acks.map((a) => a.recordId);
    const distinct = new Set(ids).size === ids.length;
    return this.ledger('ackOutbox', ids, async (tx, db) => {
      const outcomes: AckOutcome[] = [];
      if (!distinct) for (const ack of acks) outcomes.push(await ackDelivery(tx, ack, now));
      else {
        const rows = await this.q.getOutboxRows(db, ids);
        const held = acks.filter((a) => rows.get(a.recordId)?.leaseToken === a.leaseToken);
        const superseded = new Set(held.filter((a) => supersedes(rows.get(a.recordId)!, a.appliedVersion)));
        await this.q.raiseSyncedVersions(db, held);
        await this.q.clearLeases(
          db,
          [...superseded].map((a) => a.recordId),
          now,
        );
        await this.q.completeDeliveries(
          db,
          held.filter((a) => !superseded.has(a)).map((a) => ({ ...a, op: rows.get(a.recordId)!.op })),
        );
        for (const ack of acks) {
          if (!held.includes(ack)) await enqueueRepair(tx, ack.recordId, now);
          outcomes.push(!held.includes(ack) ? 'lease-lost' : superseded.has(ack) ? 'superseded' : 'acked');
        }
      }
      if (outcomes.includes('lease-lost')) await this.enqueued(db);
      return outcomes;
    });
  }

  /**
   * Refuses `commitIntents`'s arguments that are not whole numbers (a dialect's sync-2pc fast path): `options.now`
   * and each write's `next.version` and `previousVersion`.
   * @throws {ValidationError} naming the first.
   */
  protected checkIntentCommits(writes: readonly IntentCommit[], options: IntentCommitOptions): void {
    this.checkTime(options.now, 'options.now');
    for (const [i, w] of writes.entries()) {
      this.checkVersion(w.next.version, `writes[${i}].next.version`);
      if (w.previousVersion !== null) this.checkVersion(w.previousVersion, `writes[${i}].previousVersion`);
    }
  }

  /**
   * Refuses `ackOutbox`'s arguments that are not whole numbers: `now` (Unix ms) and each `acks[i].appliedVersion`.
   * @throws {ValidationError} naming the first.
   */
  protected checkAcks(acks: readonly OutboxAck[], now: number): void {
    this.checkTime(now, 'now');
    for (const [i, a] of acks.entries()) this.checkVersion(a.appliedVersion, `acks[${i}].appliedVersion`);
  }

  /**
   * Records a failed delivery in one transaction, by core's ledger (`failDelivery`): token mismatch →
   * `'lease-lost'`; otherwise an attempt is charged and the entry retries at `retryAt` or goes to dead letter
   * (`permanent`, or `maxAttempts` reached) — unless something was enqueued under the lease (core's
   * `overtaken`), which is never charged for the older state's failure.
   * @throws {ValidationError} for a `now` or `retryAt` that is not whole Unix ms, or a `maxAttempts` that is not
   *   an integer ≥ 1, before anything runs.
   */
  async failOutbox(failure: OutboxFailure): Promise<'retry' | 'dead' | 'lease-lost'> {
    checkStoreCount(failure.maxAttempts, 'failure.maxAttempts', this.component);
    this.checkTime(failure.now, 'failure.now');
    this.checkTime(failure.retryAt, 'failure.retryAt');
    return this.ledger('failOutbox', [failure.recordId], (tx) => failDelivery(tx, failure));
  }

  /**
   * Extends the leases still held under their tokens (on pending entries) to `leaseUntil`; returns their ids.
   * @throws {ValidationError} for a `leaseUntil` that is not whole Unix ms, before anything runs.
   */
  async renewOutbox(leases: readonly LeaseRef[], leaseUntil: number): Promise<string[]> {
    this.checkTime(leaseUntil, 'leaseUntil');
    if (leases.length === 0) {
      this.assertUsable('renewOutbox');
      return [];
    }
    return this.write('renewOutbox', [], async (db) => {
      const held = await this.q.heldLeases(db, leases);
      await this.q.extendLeases(db, leases, leaseUntil);
      const order = new Map(leases.map((l, i) => [l.recordId, i]));
      return held.sort((a, b) => order.get(a)! - order.get(b)!);
    });
  }

  /**
   * Gives the leases back (tokens no longer held are ignored), claimable at `retryAt`; no attempt charged.
   * @throws {ValidationError} for a `retryAt` that is not whole Unix ms, before anything runs.
   */
  async releaseOutbox(
    leases: readonly LeaseRef[],
    retryAt: number,
    options: ReleaseOptions = {},
  ): Promise<void> {
    this.checkTime(retryAt, 'retryAt');
    if (leases.length === 0) {
      this.assertUsable('releaseOutbox');
      return;
    }
    await this.write('releaseOutbox', [], (db) =>
      this.q.releaseLeases(db, leases, retryAt, options.inDoubt === true),
    );
  }

  /** Gives back every lease claimed under one of `owners` (one statement); no attempt charged. */
  async releaseClaims(owners: readonly string[]): Promise<number> {
    checkClaimOwners(owners, this.component);
    if (owners.length === 0) {
      this.assertUsable('releaseClaims');
      return 0;
    }
    return this.write('releaseClaims', [], (db) => this.q.releaseClaims(db, owners));
  }

  /**
   * Enqueues each distinct id's current state in one transaction holding the ids' locks: `'upsert'` at the
   * record's version when live, `'delete'` at the tombstone's version, or `'delete'` at the highest version
   * handed out so far when there is no row. Returns the number of distinct ids enqueued.
   * @throws {ValidationError} for a `now` that is not whole Unix ms, before anything runs.
   */
  async enqueueRepairs(ids: readonly string[], now: number): Promise<number> {
    this.checkTime(now, 'now');
    const distinct = [...new Set(ids)];
    if (distinct.length === 0) {
      this.assertUsable('enqueueRepairs');
      return 0;
    }
    return this.ledger('enqueueRepairs', distinct, async (tx, db) => {
      for (const id of distinct) await enqueueRepair(tx, id, now);
      await this.enqueued(db);
      return distinct.length;
    });
  }

  /** The outbox entry of `id` in either state (`pending` or `dead`), leased or not; no lease fields. */
  async getOutboxEntry(id: string): Promise<OutboxEntry | undefined> {
    return this.readOnly('getOutboxEntry', (db) => this.q.getOutboxEntry(db, id));
  }

  /**
   * Dead letters ordered by record id (code point order), `recordId > after`, at most `limit`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000.
   */
  async listDeadLetters(options: { after?: string; limit: number }): Promise<OutboxEntry[]> {
    this.checkLimit('limit', options.limit);
    return this.readOnly('listDeadLetters', (db) => this.q.listDeadLetters(db, options.after, options.limit));
  }

  /**
   * Moves dead letters (all, or only `ids`) back to pending: attempts 0, `nextAttemptAt = enqueuedAt = now`
   * (like a fresh enqueue of a dead entry); `lastError` is kept. Returns how many moved.
   * @throws {ValidationError} for a `now` that is not whole Unix ms, before anything runs.
   */
  async requeueDeadLetters(ids: readonly string[] | undefined, now: number): Promise<number> {
    this.checkTime(now, 'now');
    return this.write('requeueDeadLetters', [], async (db) => {
      const n = await this.q.requeueDeadLetters(db, ids, now);
      if (n > 0) await this.enqueued(db);
      return n;
    });
  }

  /**
   * Outbox gauges as of `now` (a lease is in flight while `leaseUntil > now`), in one statement.
   * @throws {ValidationError} for a `now` that is not whole Unix ms.
   */
  async outboxStats(now: number): Promise<OutboxStats> {
    this.checkTime(now, 'now');
    return this.readOnly('outboxStats', (db) => this.q.outboxStats(db, now));
  }

  /** Highest version among `pending` entries (leased or not); dead letters do not count. */
  async maxPendingVersion(): Promise<number | null> {
    return this.readOnly('maxPendingVersion', (db) => this.q.maxPendingVersion(db));
  }

  /**
   * The live records without an outbox entry with the highest `synced_version`, highest first, at most
   * `limit` (one top-`limit` sort over the records table).
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000.
   */
  async recentlySynced(
    limit: number,
    above = 0,
    order: SyncedOrder = 'highest-first',
  ): Promise<SyncedVersion[]> {
    this.checkLimit('limit', limit);
    checkSyncedRange(above, order, this.component);
    return this.readOnly('recentlySynced', (db) => this.q.recentlySynced(db, limit, above, order));
  }

  /**
   * Intents with `expiresAt <= now`, soonest-expired first, at most `limit`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000, or `now` is not whole Unix ms.
   */
  async listExpiredIntents(now: number, limit: number): Promise<TwoPhaseIntent[]> {
    this.checkLimit('limit', limit);
    this.checkTime(now, 'now');
    return this.readOnly('listExpiredIntents', (db) => this.q.listExpiredIntents(db, now, limit));
  }

  /**
   * Deletes the settled tombstones among `ids` (see `IntentLogStore.purgeTombstones`), by primary key, holding
   * their record locks like an ack: without them, on MariaDB a purge (the record row, then a locking read of the
   * outbox row) and an ack of the same id (the other way round) deadlocked (found by a break-it round).
   */
  async purgeTombstones(ids: readonly string[]): Promise<number> {
    this.checkLimit('ids', Math.max(1, ids.length));
    const distinct = [...new Set(ids)];
    if (distinct.length === 0) {
      this.assertUsable('purgeTombstones');
      return 0;
    }
    return this.write('purgeTombstones', distinct, (db) => this.q.purgeTombstones(db, distinct));
  }

  /**
   * Cached embeddings by key; missing keys are absent. With `options.refresh`, the entries found that were
   * last marked used before `staleBefore` are marked used at `usedAt` (a write, in a transaction of its own:
   * at most twice per TTL for each entry, as core asks it; its failure is left to the next hit).
   * @throws {ValidationError} for a `usedAt` or `staleBefore` that is not Unix ms (a fraction is dropped).
   */
  async getCachedEmbeddings(
    keys: readonly string[],
    options: { refresh?: { usedAt: number; staleBefore: number } } = {},
  ): Promise<Map<string, number[]>> {
    const { refresh } = options;
    if (refresh) {
      checkStoreMark(refresh.usedAt, 'options.refresh.usedAt', this.component);
      checkStoreMark(refresh.staleBefore, 'options.refresh.staleBefore', this.component);
    }
    const { found, stale } = await this.readOnly('getCachedEmbeddings', (db) =>
      this.q.getCachedEmbeddings(db, keys, refresh?.staleBefore),
    );
    // Best effort: a refresh that failed (a lock wait, a deadlock with a prune) leaves the mark for the next hit,
    // and the embeddings were read.
    if (refresh && stale.length > 0)
      await this.transact('getCachedEmbeddings', (db) =>
        this.q.refreshCachedEmbeddings(db, stale, refresh.usedAt, refresh.staleBefore),
      ).catch(() => {});
    return found;
  }

  /** Highest version the sequence has handed out (0 when none). */
  async currentVersion(): Promise<number> {
    return this.readOnly('currentVersion', (db) => this.q.currentVersion(db));
  }

  /**
   * The database server's clock now, Unix ms: a server dialect's `sourceTime` (`RelationalStore.sourceTime`). An
   * embedded database (SQLite) has none to offer: its clock is the machine's, the one its processes read.
   */
  protected serverTime(): Promise<number> {
    return this.readOnly('sourceTime', (db) => this.q.serverTime(db));
  }

  /** The value stored under `key`, or `undefined`. @throws {ValidationError} for a key not of 1..200 characters. */
  async getMeta(key: string): Promise<string | undefined> {
    validateMetaKey(key, this.component);
    return this.readOnly('getMeta', (db) => this.q.getMeta(db, key));
  }

  /** Stores `value` under `key`; `null` removes it. @throws {ValidationError} for a key not of 1..200 characters. */
  async setMeta(key: string, value: string | null): Promise<void> {
    validateMetaKey(key, this.component);
    await this.read('setMeta', (db) => this.q.setMeta(db, key, value));
  }

  /**
   * Stores `value` under `key` unless the key holds one; returns the value held afterwards (one atomic upsert
   * that keeps an existing value, then a read). @throws {ValidationError} for a key not of 1..200 characters.
   */
  async insertMeta(key: string, value: string): Promise<string> {
    validateMetaKey(key, this.component);
    return this.read('insertMeta', (db) => this.q.insertMeta(db, key, value));
  }
}
