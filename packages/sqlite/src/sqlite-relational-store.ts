import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  type AckOutcome,
  BackendUnavailableError,
  type ClaimOptions,
  ClosedError,
  type OutboxAck,
  type OutboxEntry,
  type OutboxFailure,
  type OutboxLease,
  type OutboxOp,
  type OutboxStats,
  type RecordVersion,
  type RecordWrite,
  type RelationalStore,
  type RelationalTx,
  type StoredRecord,
  type TwoPhaseIntent,
  ValidationError,
  validateMetaKey,
} from '@dualwrite/core';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { mapSqliteError, SQLITE_COMPONENT } from './sqlite-errors.js';
import { SqliteHotStatements } from './sqlite-hot-statements.js';
import { migrateSqliteSchema } from './sqlite-migrations.js';
import { SqliteQueries, toOutboxEntry, toStoredRecord } from './sqlite-queries.js';
import {
  type ResolvedSqliteRelationalStoreOptions,
  resolveSqliteOptions,
  type SqliteKysely,
  type SqliteRelationalStoreOptions,
  type SqliteTableNames,
  sqliteTableNames,
} from './sqlite-relational-store-options.js';
import { withStatementCache } from './sqlite-statement-cache.js';

/** Max `limit` of the listing methods (`listRecords`, `listVersions`, `listDeadLetters`). */
export const SQLITE_MAX_PAGE = 10_000;

/** Creates the directory of the database file. @throws {BackendUnavailableError} when it cannot. */
function makeParentDirectory(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (error) {
    throw new BackendUnavailableError(`cannot create the directory of options.path ${JSON.stringify(path)}`, {
      component: SQLITE_COMPONENT,
      cause: error,
    });
  }
}

/** Which store's transaction the current async context runs in (detects calls that would deadlock). */
const activeTransaction = new AsyncLocalStorage<SqliteRelationalStore>();

function checkLimit(field: string, limit: number, max = SQLITE_MAX_PAGE): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > max)
    throw new ValidationError(field, `must be an integer in 1..${max}, got ${limit}`, {
      component: SQLITE_COMPONENT,
      limit: `1..${max}`,
    });
}

function rollbackQuietly(raw: Database.Database): void {
  try {
    if (raw.inTransaction) raw.exec('ROLLBACK');
  } catch {
    // SQLite already rolled back on its own (e.g. after SQLITE_FULL), or the connection is gone.
  }
}

/**
 * The unit of work handed to {@link SqliteRelationalStore.transaction}. Valid only until the callback
 * settles; `native` is a Kysely instance bound to the transaction's connection.
 */
class SqliteTx implements RelationalTx<SqliteKysely> {
  readonly native: SqliteKysely;
  readonly #q: SqliteQueries;
  readonly #hot: SqliteHotStatements;
  readonly #nextVersion: (hot: SqliteHotStatements, atLeast: number) => number;
  #open = true;

  constructor(
    native: SqliteKysely,
    q: SqliteQueries,
    hot: SqliteHotStatements,
    nextVersion: (hot: SqliteHotStatements, atLeast: number) => number,
  ) {
    this.native = native;
    this.#q = q;
    this.#hot = hot;
    this.#nextVersion = nextVersion;
  }

  /** Ends the tx object's life: later calls throw. */
  finish(): void {
    this.#open = false;
  }

  async #run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    if (!this.#open)
      throw new Error(`[dualwrite] [sqlite] tx.${operation}() called after the transaction callback settled`);
    try {
      return await fn();
    } catch (error) {
      throw mapSqliteError(error, `tx.${operation}`);
    }
  }

  getRecord(id: string): Promise<StoredRecord | undefined> {
    return this.#run('getRecord', async () => {
      const row = this.#hot.getRecord(id);
      return row === undefined ? undefined : toStoredRecord(row);
    });
  }

  nextVersion(atLeast = 0): Promise<number> {
    return this.#run('nextVersion', async () => this.#nextVersion(this.#hot, atLeast));
  }

  writeRecord(record: RecordWrite): Promise<void> {
    return this.#run('writeRecord', async () => this.#hot.writeRecord(record));
  }

  enqueue(recordId: string, version: number, op: OutboxOp, now: number): Promise<void> {
    return this.#run('enqueue', async () => this.#hot.enqueue(recordId, version, op, now));
  }

  getOutboxEntry(recordId: string): Promise<OutboxEntry | undefined> {
    return this.#run('getOutboxEntry', async () => {
      const row = this.#hot.getOutbox(recordId);
      return row === undefined ? undefined : toOutboxEntry(row);
    });
  }

  countIntents(recordId: string): Promise<number> {
    return this.#run('countIntents', () => this.#q.countIntents(this.native, recordId));
  }

  putIntent(intent: TwoPhaseIntent): Promise<void> {
    return this.#run('putIntent', () => this.#q.putIntent(this.native, intent));
  }

  deleteIntent(token: string): Promise<boolean> {
    return this.#run(
      'deleteIntent',
      async () => (await this.#q.deleteIntent(this.native, token)) !== undefined,
    );
  }
}

/**
 * {@link RelationalStore} on SQLite through Kysely and better-sqlite3.
 *
 * - One connection per store, WAL journal, `synchronous = NORMAL`, `foreign_keys = ON`, `busy_timeout`
 *   from {@link SqliteRelationalStoreOptions.busyTimeoutMs}. Several processes may share the file.
 * - Every transaction (yours through {@link transaction}, and the store's own multi-statement operations
 *   such as `claimOutbox` and `ackOutbox`) starts with `BEGIN IMMEDIATE`, taking the write lock up front,
 *   so read-then-write sequences from several processes neither lose updates nor fail with
 *   `SQLITE_BUSY_SNAPSHOT`. Within a process, operations are serialised on the connection (Kysely's
 *   connection mutex): a read waits while a transaction of the same store is open.
 * - The database is opened lazily by the first call ({@link init} normally).
 * - Durability: with WAL and `synchronous = NORMAL` a committed transaction survives a process crash, but
 *   the last commits before a power failure or OS crash may be rolled back (the file stays consistent).
 *
 * Errors: `SQLITE_BUSY`/`SQLITE_LOCKED` past the busy timeout → `TransientBackendError`; full disk, I/O
 * errors, unopenable or read-only files → `BackendUnavailableError` (see {@link mapSqliteError}); any call
 * after {@link close} → `ClosedError`; a `limit` outside 1..10,000 → `ValidationError`. All carry
 * `component: 'sqlite'`.
 *
 * Calling a method of this store from inside its own {@link transaction} callback would deadlock on the
 * connection; it throws an `Error` instead — use the `tx` argument.
 *
 * @example
 * ```ts
 * const store = new SqliteRelationalStore({ path: './app.db' });
 * await store.init();
 * await store.transaction(async (tx) => {
 *   const version = await tx.nextVersion();
 *   await tx.writeRecord({ id: 'a', text: 'hi', embedding: null, metadata: {}, version, deleted: false,
 *     contentHash, syncedVersion: null, now: Date.now() });
 *   await tx.enqueue('a', version, 'upsert', Date.now());
 *   await tx.native.insertInto('my_table').values({ id: 'a' }).execute(); // same transaction
 * });
 * ```
 */
export class SqliteRelationalStore implements RelationalStore<SqliteKysely> {
  /** `'sqlite'`. */
  readonly name = 'sqlite';
  /** The names of the tables and indexes this store owns (after the prefix). */
  readonly tableNames: SqliteTableNames;

  readonly #options: ResolvedSqliteRelationalStoreOptions;
  readonly #q: SqliteQueries;
  #db: SqliteKysely | undefined;
  /** The raw connection under `#db`, for the write path's prepared statements. */
  #raw: Database.Database | undefined;
  #hot: SqliteHotStatements | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Highest version this instance handed out (see {@link SqliteQueries.nextVersion}). */
  #versionHighWater = 0;

  /**
   * Validates the options; opens nothing yet.
   * @throws {ValidationError} on invalid options (see {@link resolveSqliteOptions}).
   */
  constructor(options: SqliteRelationalStoreOptions) {
    this.#options = resolveSqliteOptions(options);
    this.tableNames = sqliteTableNames(this.#options.tablePrefix);
    this.#q = new SqliteQueries(this.tableNames);
  }

  /**
   * The store's Kysely instance (opened on first use), for application queries outside store
   * transactions. Do not use it inside {@link transaction} (use `tx.native`), and do not start Kysely
   * transactions on it while the store is in use from other async contexts: they share one connection.
   * @throws {ClosedError} after {@link close}.
   */
  get kysely(): SqliteKysely {
    return this.#use('kysely');
  }

  /**
   * Opens the database (if not yet open), sets the PRAGMAs and brings the schema up to date with Kysely
   * migrations in one `BEGIN IMMEDIATE` transaction. Idempotent and safe to run from several processes
   * at once.
   * @throws {BackendUnavailableError} when the file cannot be opened or written.
   * @throws {TransientBackendError} when another connection holds the write lock past the busy timeout.
   */
  async init(): Promise<void> {
    await this.#immediate('init', (conn) => migrateSqliteSchema(conn, this.tableNames));
  }

  /**
   * Runs `fn` in one `BEGIN IMMEDIATE` transaction on the store's connection; commits when it resolves,
   * rolls back when it throws and rethrows `fn`'s error unchanged. Transactions of one store run one at a
   * time. Do not nest, and do not call other methods of this store inside `fn`.
   * @throws {TransientBackendError} when the write lock cannot be taken within the busy timeout, or
   *   COMMIT is refused for a lock.
   */
  async transaction<T>(fn: (tx: RelationalTx<SqliteKysely>) => Promise<T>): Promise<T> {
    return this.#immediate(
      'transaction',
      async (conn) => {
        this.#hot ??= new SqliteHotStatements(this.#raw!, this.tableNames);
        const tx = new SqliteTx(conn, this.#q, this.#hot, (hot, atLeast) => {
          const version = hot.nextVersion(Math.max(this.#versionHighWater, atLeast));
          if (version > this.#versionHighWater) this.#versionHighWater = version;
          return version;
        });
        try {
          return await fn(tx);
        } finally {
          tx.finish();
        }
      },
      false,
    );
  }

  /** Records by id (tombstones only with `includeDeleted`); missing ids are absent. Ids are compared exactly (`BINARY`). */
  async getRecords(
    ids: readonly string[],
    options: { includeDeleted?: boolean } = {},
  ): Promise<Map<string, StoredRecord>> {
    return this.#read('getRecords', async (db) => {
      const rows = await this.#q.getRecords(db, ids, options.includeDeleted === true);
      return new Map(rows.map((row) => [row.id, toStoredRecord(row)]));
    });
  }

  /**
   * Live records ordered by id (`BINARY` = code point order), `id > after`, at most `limit`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000.
   */
  async listRecords(options: { after?: string; limit: number }): Promise<StoredRecord[]> {
    checkLimit('limit', options.limit);
    return this.#read('listRecords', async (db) =>
      (await this.#q.listRecords(db, options.after, options.limit)).map(toStoredRecord),
    );
  }

  /**
   * `(id, version, deleted)` of all rows, tombstones included, ordered by id (code point order), `id > after`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000.
   */
  async listVersions(options: { after?: string; limit: number }): Promise<RecordVersion[]> {
    checkLimit('limit', options.limit);
    return this.#read('listVersions', (db) => this.#q.listVersions(db, options.after, options.limit));
  }

  /** Number of live records (tombstones excluded). */
  async countRecords(): Promise<number> {
    return this.#read('countRecords', (db) => this.#q.countRecords(db));
  }

  /**
   * Stores `embedding` (float32) if the record is live and still at `version`; `version`, `updatedAt` and
   * `contentHash` are left as they are. Returns `false` when the record moved on, is a tombstone or is gone.
   */
  async setEmbedding(id: string, version: number, embedding: readonly number[]): Promise<boolean> {
    return this.#read('setEmbedding', (db) => this.#q.setEmbedding(db, id, version, embedding));
  }

  /** Raises `syncedVersion` to `version` if that is higher (a missing record is ignored). */
  async markSynced(id: string, version: number): Promise<void> {
    await this.#read('markSynced', (db) => this.#q.markSynced(db, id, version));
  }

  /**
   * Claims up to `limit` due entries in one `BEGIN IMMEDIATE` transaction: pending, `nextAttemptAt <= now`,
   * no lease or `leaseUntil <= now`, ordered by `nextAttemptAt` then `enqueuedAt`. Each gets a fresh
   * random `leaseToken` (UUID v4), `leaseOwner = owner` and `leaseUntil = now + leaseMs`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000 or `leaseMs` is not positive.
   */
  async claimOutbox(options: ClaimOptions): Promise<OutboxLease[]> {
    checkLimit('limit', options.limit);
    if (!(options.leaseMs > 0))
      throw new ValidationError('leaseMs', `must be > 0, got ${options.leaseMs}`, {
        component: SQLITE_COMPONENT,
      });
    return this.#immediate('claimOutbox', async (conn) => {
      const due = await this.#q.dueOutbox(conn, options.now, options.limit);
      const leases: OutboxLease[] = [];
      for (const row of due)
        leases.push(
          await this.#q.lease(conn, row, options.owner, randomUUID(), options.now + options.leaseMs),
        );
      return leases;
    });
  }

  /**
   * Acknowledges deliveries in one transaction, in order:
   * - token no longer on the entry (lease expired and re-claimed, or entry gone) → `'lease-lost'`, and the
   *   record's current state is enqueued (as {@link enqueueRepairs});
   * - entry version newer than `appliedVersion` → `'superseded'`: lease cleared, entry claimable now;
   * - otherwise → `'acked'`: entry deleted, and a tombstone at `appliedVersion` or older is purged.
   *
   * `syncedVersion` of the record is raised to `appliedVersion` for `'acked'` and `'superseded'`.
   */
  async ackOutbox(acks: readonly OutboxAck[], now: number): Promise<AckOutcome[]> {
    return this.#immediate('ackOutbox', async (conn) => {
      const outcomes: AckOutcome[] = [];
      for (const ack of acks) {
        const entry = await this.#q.getOutbox(conn, ack.recordId);
        if (entry === undefined || entry.lease_token === null || entry.lease_token !== ack.leaseToken) {
          await this.#q.enqueueRepair(conn, ack.recordId, now);
          outcomes.push('lease-lost');
          continue;
        }
        await this.#q.markSynced(conn, ack.recordId, ack.appliedVersion);
        if (entry.version > ack.appliedVersion) {
          await this.#q.clearLease(conn, ack.recordId, now);
          outcomes.push('superseded');
        } else {
          await this.#q.deleteOutbox(conn, ack.recordId);
          await this.#q.purgeTombstone(conn, ack.recordId, ack.appliedVersion);
          outcomes.push('acked');
        }
      }
      return outcomes;
    });
  }

  /**
   * Records a failed delivery in one transaction. Token mismatch → `'lease-lost'` (nothing changes).
   * Otherwise `lastError = error`, the lease is cleared and an attempt is charged: `'dead'` when
   * `permanent` or the charged count reaches `maxAttempts`, else `'retry'` with `nextAttemptAt = retryAt`.
   *
   * If a newer version was enqueued while the entry was leased, the failure concerned an older version:
   * no attempt is charged and the entry is never dead-lettered for it (`'retry'` at `retryAt`).
   */
  async failOutbox(failure: OutboxFailure): Promise<'retry' | 'dead' | 'lease-lost'> {
    return this.#immediate('failOutbox', async (conn) => {
      const entry = await this.#q.getOutbox(conn, failure.recordId);
      if (entry === undefined || entry.lease_token === null || entry.lease_token !== failure.leaseToken)
        return 'lease-lost';
      if (entry.lease_version !== null && entry.version > entry.lease_version) {
        await this.#q.releaseLease(conn, failure.recordId, failure.error, failure.retryAt);
        return 'retry';
      }
      const dead = failure.permanent || entry.attempts + 1 >= failure.maxAttempts;
      await this.#q.chargeFailure(conn, failure.recordId, failure.error, dead, failure.retryAt);
      return dead ? 'dead' : 'retry';
    });
  }

  /** Extends the leases still held under their tokens to `leaseUntil`; returns their record ids. */
  async renewOutbox(
    leases: readonly Pick<OutboxLease, 'recordId' | 'leaseToken'>[],
    leaseUntil: number,
  ): Promise<string[]> {
    if (leases.length === 0) {
      this.#use('renewOutbox');
      return [];
    }
    return this.#immediate('renewOutbox', async (conn) => {
      const held: string[] = [];
      for (const lease of leases)
        if (await this.#q.renewLease(conn, lease.recordId, lease.leaseToken, leaseUntil))
          held.push(lease.recordId);
      return held;
    });
  }

  /** Highest version the sequence has handed out (0 when none). */
  async currentVersion(): Promise<number> {
    return this.#read('currentVersion', (db) => this.#q.currentVersion(db));
  }

  /** The value stored under `key`, or `undefined`. */
  async getMeta(key: string): Promise<string | undefined> {
    validateMetaKey(key, SQLITE_COMPONENT);
    return this.#read('getMeta', (db) => this.#q.getMeta(db, key));
  }

  /** Stores `value` under `key`; `null` removes it. */
  async setMeta(key: string, value: string | null): Promise<void> {
    validateMetaKey(key, SQLITE_COMPONENT);
    await this.#immediate('setMeta', (conn) => this.#q.setMeta(conn, key, value));
  }

  /** Clears the given leases (tokens that no longer match are ignored) and sets `nextAttemptAt = retryAt`. */
  async releaseOutbox(
    leases: readonly Pick<OutboxLease, 'recordId' | 'leaseToken'>[],
    retryAt: number,
  ): Promise<void> {
    if (leases.length === 0) {
      this.#use('releaseOutbox');
      return;
    }
    await this.#immediate('releaseOutbox', async (conn) => {
      for (const lease of leases) {
        const entry = await this.#q.getOutbox(conn, lease.recordId);
        if (entry?.lease_token !== lease.leaseToken) continue;
        await this.#q.releaseLease(conn, lease.recordId, null, retryAt);
      }
    });
  }

  /**
   * Enqueues each distinct id's current state in one transaction: `'upsert'` at the record's version when
   * live, `'delete'` at the tombstone's version, or `'delete'` at the highest version handed out so far
   * when there is no row. Returns the number of distinct ids enqueued.
   */
  async enqueueRepairs(ids: readonly string[], now: number): Promise<number> {
    const distinct = [...new Set(ids)];
    if (distinct.length === 0) {
      this.#use('enqueueRepairs');
      return 0;
    }
    return this.#immediate('enqueueRepairs', async (conn) => {
      for (const id of distinct) await this.#q.enqueueRepair(conn, id, now);
      return distinct.length;
    });
  }

  /** The outbox entry of `id` in either state (`pending` or `dead`), leased or not; lease fields are not included. */
  async getOutboxEntry(id: string): Promise<OutboxEntry | undefined> {
    return this.#read('getOutboxEntry', async (db) => {
      const row = await this.#q.getOutbox(db, id);
      return row === undefined ? undefined : toOutboxEntry(row);
    });
  }

  /**
   * Dead letters ordered by record id (code point order), `recordId > after`, at most `limit`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000.
   */
  async listDeadLetters(options: { after?: string; limit: number }): Promise<OutboxEntry[]> {
    checkLimit('limit', options.limit);
    return this.#read('listDeadLetters', async (db) =>
      (await this.#q.listDeadLetters(db, options.after, options.limit)).map(toOutboxEntry),
    );
  }

  /**
   * Moves dead letters (all, or only `ids`) back to pending: attempts 0, `nextAttemptAt = enqueuedAt = now`
   * (like a fresh enqueue of a dead entry); `lastError` is kept. Returns how many moved.
   */
  async requeueDeadLetters(ids: readonly string[] | undefined, now: number): Promise<number> {
    return this.#immediate('requeueDeadLetters', (conn) => this.#q.requeueDeadLetters(conn, ids, now));
  }

  /** Outbox gauges as of `now` (a lease is in flight while `leaseUntil > now`). */
  async outboxStats(now: number): Promise<OutboxStats> {
    return this.#read('outboxStats', (db) => this.#q.outboxStats(db, now));
  }

  /** Highest version among `pending` entries (leased or not); dead letters do not count. */
  async maxPendingVersion(): Promise<number | null> {
    return this.#read('maxPendingVersion', (db) => this.#q.maxPendingVersion(db));
  }

  /** Intents with `expiresAt <= now`, soonest-expired first, at most `limit` (1..10,000). */
  async listExpiredIntents(now: number, limit: number): Promise<TwoPhaseIntent[]> {
    checkLimit('limit', limit);
    return this.#read('listExpiredIntents', (db) => this.#q.listExpiredIntents(db, now, limit));
  }

  /**
   * In one transaction: deletes the intent and enqueues its record's current state (as
   * {@link enqueueRepairs}). Returns `false` when the intent was already gone.
   */
  async resolveIntent(token: string, now: number): Promise<boolean> {
    return this.#immediate('resolveIntent', async (conn) => {
      const recordId = await this.#q.deleteIntent(conn, token);
      if (recordId === undefined) return false;
      await this.#q.enqueueRepair(conn, recordId, now);
      return true;
    });
  }

  /** Cached embeddings by key; missing keys are absent. */
  async getCachedEmbeddings(keys: readonly string[]): Promise<Map<string, number[]>> {
    return this.#read('getCachedEmbeddings', (db) => this.#q.getCachedEmbeddings(db, keys));
  }

  /** Inserts or replaces cache entries in one transaction. */
  async putCachedEmbeddings(
    entries: readonly { key: string; embedding: readonly number[] }[],
  ): Promise<void> {
    if (entries.length === 0) {
      this.#use('putCachedEmbeddings');
      return;
    }
    await this.#immediate('putCachedEmbeddings', async (conn) => {
      for (const e of entries) await this.#q.putCachedEmbedding(conn, e.key, e.embedding);
    });
  }

  /**
   * Waits for running operations, then closes the connection (unless it was passed in as
   * `options.database`, which stays open). Idempotent; every other method throws `ClosedError` afterwards.
   */
  async close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#assertNotInTransaction('close');
    this.#closed = true;
    const db = this.#db;
    this.#db = undefined;
    this.#raw = undefined;
    this.#hot = undefined;
    this.#closing = (async () => {
      if (db === undefined) return;
      // Queue behind operations already holding or waiting for the connection.
      await db.connection().execute(async () => {});
      if (this.#options.database === undefined) await db.destroy();
    })();
    return this.#closing;
  }

  // -- internals -----------------------------------------------------------------------------------

  #assertNotInTransaction(operation: string): void {
    if (activeTransaction.getStore() === this)
      throw new Error(
        `[dualwrite] [sqlite] ${operation}() called inside transaction() of the same store; ` +
          'the transaction holds the connection, so this would deadlock — use the tx argument',
      );
  }

  /** The open Kysely instance, opening the database on first use. */
  #use(operation: string): SqliteKysely {
    if (this.#closed) throw new ClosedError('SqliteRelationalStore', { component: SQLITE_COMPONENT });
    this.#assertNotInTransaction(operation);
    if (this.#db !== undefined) return this.#db;
    const { database, path, busyTimeoutMs, create } = this.#options;
    let opened: Database.Database | undefined;
    try {
      if (database === undefined && path !== ':memory:') {
        if (create) makeParentDirectory(path!);
        else if (!existsSync(path!))
          throw new BackendUnavailableError(
            `options.path ${JSON.stringify(path)} does not exist and options.create is false`,
            { component: SQLITE_COMPONENT },
          );
      }
      opened = database ?? new Database(path!, { timeout: busyTimeoutMs, fileMustExist: !create });
      const db = opened;
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      this.#db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: withStatementCache(db) }) });
      this.#raw = db;
      return this.#db;
    } catch (error) {
      if (database === undefined) opened?.close();
      throw mapSqliteError(error, 'open');
    }
  }

  /** Runs a single statement (or reads) outside an explicit transaction. */
  async #read<T>(operation: string, fn: (db: SqliteKysely) => Promise<T>): Promise<T> {
    const db = this.#use(operation);
    try {
      return await fn(db);
    } catch (error) {
      throw mapSqliteError(error, operation);
    }
  }

  /**
   * Runs `fn` on the pinned connection inside `BEGIN IMMEDIATE` … `COMMIT` (ROLLBACK on error).
   * Errors of `fn` are mapped with {@link mapSqliteError} when `mapErrors` (the store's own operations)
   * and rethrown unchanged otherwise (application callbacks).
   */
  async #immediate<T>(
    operation: string,
    fn: (conn: SqliteKysely) => Promise<T>,
    mapErrors = true,
  ): Promise<T> {
    const db = this.#use(operation);
    let inCallback = false;
    try {
      return await db.connection().execute(async (conn) => {
        // The connection is held for this callback, so the raw handle runs inside it (no Kysely dispatch).
        const raw = this.#raw!;
        try {
          raw.exec('BEGIN IMMEDIATE');
        } catch (error) {
          throw mapSqliteError(error, `${operation}: BEGIN IMMEDIATE`);
        }
        let result: T;
        try {
          inCallback = true;
          result = await activeTransaction.run(this, () => fn(conn));
          inCallback = false;
        } catch (error) {
          rollbackQuietly(raw);
          throw error;
        }
        try {
          raw.exec('COMMIT');
        } catch (error) {
          rollbackQuietly(raw);
          throw mapSqliteError(error, `${operation}: COMMIT`);
        }
        return result;
      });
    } catch (error) {
      throw inCallback && !mapErrors ? error : mapSqliteError(error, operation);
    }
  }
}
