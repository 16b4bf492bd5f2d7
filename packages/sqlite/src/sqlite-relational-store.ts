import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  BackendUnavailableError,
  type ClaimOptions,
  ClosedError,
  type OutboxEntry,
  type OutboxLease,
  type OutboxOp,
  type RecordWrite,
  type RelationalStore,
  type RelationalTx,
  type StoredRecord,
  ValidationError,
} from '@dualwrite/core';
import { SQL_MAX_PAGE, SqlRelationalStore, SqlTx, toOutboxEntry, toStoredRecord } from '@dualwrite/sql';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { mapSqliteError, SQLITE_COMPONENT } from './sqlite-errors.js';
import { SqliteHotStatements } from './sqlite-hot-statements.js';
import { migrateSqliteSchema } from './sqlite-migrations.js';
import { SqliteQueries } from './sqlite-queries.js';
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
export const SQLITE_MAX_PAGE = SQL_MAX_PAGE;

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
class SqliteTx extends SqlTx {
  readonly #hot: SqliteHotStatements;
  readonly #nextVersion: (hot: SqliteHotStatements, atLeast: number) => number;

  constructor(
    native: SqliteKysely,
    q: SqliteQueries,
    hot: SqliteHotStatements,
    nextVersion: (hot: SqliteHotStatements, atLeast: number) => number,
  ) {
    super(native, q, { component: SQLITE_COMPONENT, mapError: mapSqliteError });
    this.#hot = hot;
    this.#nextVersion = nextVersion;
  }

  getRecord(id: string): Promise<StoredRecord | undefined> {
    return this.run('getRecord', () => {
      const row = this.#hot.getRecord(id);
      return row === undefined ? undefined : toStoredRecord(row);
    });
  }

  nextVersion(atLeast = 0): Promise<number> {
    return this.run('nextVersion', () => this.#nextVersion(this.#hot, atLeast));
  }

  writeRecord(record: RecordWrite): Promise<void> {
    return this.run('writeRecord', () => this.#hot.writeRecord(record));
  }

  enqueue(recordId: string, version: number, op: OutboxOp, now: number): Promise<void> {
    return this.run('enqueue', () => this.#hot.enqueue(recordId, version, op, now));
  }

  /** The write path's prepared statement (sync-2pc asks it on every put). */
  override getOutboxEntry(recordId: string): Promise<OutboxEntry | undefined> {
    return this.run('getOutboxEntry', () => {
      const row = this.#hot.getOutbox(recordId);
      return row === undefined ? undefined : toOutboxEntry(row);
    });
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
export class SqliteRelationalStore extends SqlRelationalStore implements RelationalStore<SqliteKysely> {
  /** `'sqlite'`. */
  readonly name = 'sqlite';
  /** The names of the tables and indexes this store owns (after the prefix). */
  readonly tableNames: SqliteTableNames;

  readonly #options: ResolvedSqliteRelationalStoreOptions;
  protected readonly q: SqliteQueries;
  protected readonly component = SQLITE_COMPONENT;
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
    super();
    this.#options = resolveSqliteOptions(options);
    this.tableNames = sqliteTableNames(this.#options.tablePrefix);
    this.q = new SqliteQueries(this.tableNames);
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
        const tx = new SqliteTx(conn, this.q, this.#hot, (hot, atLeast) => {
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

  /**
   * Claims up to `limit` due entries in one `BEGIN IMMEDIATE` transaction: pending, `nextAttemptAt <= now`,
   * no lease or `leaseUntil <= now`, ordered by `nextAttemptAt` then `enqueuedAt`. Each gets a fresh
   * random `leaseToken` (UUID v4), `leaseOwner = owner` and `leaseUntil = now + leaseMs`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000 or `leaseMs` is not positive.
   */
  async claimOutbox(options: ClaimOptions): Promise<OutboxLease[]> {
    this.checkLimit('limit', options.limit);
    if (!(options.leaseMs > 0))
      throw new ValidationError('leaseMs', `must be > 0, got ${options.leaseMs}`, {
        component: SQLITE_COMPONENT,
      });
    return this.#immediate('claimOutbox', async (conn) => {
      const due = await this.q.dueOutbox(conn, options.now, options.limit);
      const leases: OutboxLease[] = [];
      for (const row of due)
        leases.push(
          await this.q.lease(conn, row, options.owner, randomUUID(), options.now + options.leaseMs),
        );
      return leases;
    });
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
      for (const e of entries) await this.q.putCachedEmbedding(conn, e.key, e.embedding);
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

  protected read<T>(operation: string, fn: (db: SqliteKysely) => Promise<T>): Promise<T> {
    return this.#read(operation, fn);
  }

  /** One `BEGIN IMMEDIATE` transaction: SQLite's single writer excludes every other, so no per-record locks. */
  protected write<T>(
    operation: string,
    _lockIds: readonly string[],
    fn: (db: SqliteKysely) => Promise<T>,
  ): Promise<T> {
    return this.#immediate(operation, fn);
  }

  protected assertUsable(operation: string): void {
    this.#use(operation);
  }

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
