import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  BackendUnavailableError,
  type Change,
  changeId,
  type OutboxEntry,
  type OutboxOp,
  planWrites,
  type RecordWrite,
  type StoredRecord,
  ValidationError,
  type WriteResult,
  writeChangesWithOutbox,
} from '@dualwrite/core';
import {
  SQL_MAX_PAGE,
  SqlRelationalStore,
  SqlTx,
  type SqlTxHooks,
  toOutboxEntry,
  toStoredRecord,
} from '@dualwrite/sql';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { mapSqliteError, SQLITE_COMPONENT, SQLITE_ERRORS } from './sqlite-errors.js';
import { SqliteHotStatements } from './sqlite-hot-statements.js';
import { migrateSqliteSchema } from './sqlite-migrations.js';
import { assertTransactionOpen, markTransactionOpen } from './sqlite-open-transaction.js';
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

/** Whether `path` names a directory (`false` when it names nothing or cannot be read: opening it says why). */
function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false;
  }
}

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

function rollbackQuietly(raw: Database.Database): void {
  try {
    if (raw.inTransaction) raw.exec('ROLLBACK');
  } catch {
    // SQLite already rolled back on its own (e.g. after SQLITE_FULL), or the connection is gone.
  }
}

/** The transaction object on SQLite: the write path runs on prepared statements (no per-id locks needed). */
class SqliteTx extends SqlTx {
  constructor(
    native: SqliteKysely,
    q: SqliteQueries,
    hooks: SqlTxHooks,
    private readonly hot: SqliteHotStatements,
    private readonly raw: Database.Database,
  ) {
    super(native, q, hooks);
  }

  override getRecord(id: string): Promise<StoredRecord | undefined> {
    return this.run('getRecord', () => {
      const row = this.hot.getRecord(id);
      return row === undefined ? undefined : toStoredRecord(row);
    });
  }

  /**
   * @throws {ValidationError} on `uow.db` when a statement on it ended the transaction (see `transaction`), or
   *   naming a `version`, `syncedVersion` or `now` that is not whole.
   */
  override writeRecord(record: RecordWrite): Promise<void> {
    return this.run('writeRecord', () => {
      this.checkRecordWrite(record);
      assertTransactionOpen(this.raw, 'probe');
      this.hot.writeRecord(record);
    });
  }

  override enqueue(recordId: string, version: number, op: OutboxOp, now: number): Promise<void> {
    return this.run('enqueue', () => {
      this.checkEntry(version, now);
      this.hot.enqueue(recordId, version, op, now);
    });
  }

  /** sync-2pc asks it on every put. */
  override getOutboxEntry(recordId: string): Promise<OutboxEntry | undefined> {
    return this.run('getOutboxEntry', () => {
      const row = this.hot.getOutbox(recordId);
      return row === undefined ? undefined : toOutboxEntry(row);
    });
  }
}

/**
 * `RelationalStore` on SQLite through Kysely and better-sqlite3 (the SQL and the outbox rules are
 * `SqlRelationalStore`'s of `@dualwrite/sql`).
 *
 * - One connection per store, WAL journal, `synchronous = NORMAL`, `foreign_keys = ON`, `busy_timeout`
 *   from {@link SqliteRelationalStoreOptions.busyTimeoutMs}. Several processes may share the file.
 * - Every transaction (yours through {@link transaction}, and the store's own multi-statement operations
 *   such as `ackOutbox`) starts with `BEGIN IMMEDIATE`, taking the write lock up front, so read-then-write
 *   sequences from several processes neither lose updates nor fail with `SQLITE_BUSY_SNAPSHOT`. A claim is
 *   one `UPDATE … RETURNING` statement, which takes the write lock before it reads. Within a process,
 *   operations are serialised on the connection (Kysely's connection mutex): a read waits while a transaction
 *   of the same store is open.
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
export class SqliteRelationalStore extends SqlRelationalStore<SqliteKysely> {
  /** `'sqlite'`. */
  readonly name = 'sqlite';
  /** The names of the tables and indexes this store owns (after the prefix). */
  readonly tableNames: SqliteTableNames;

  readonly #options: ResolvedSqliteRelationalStoreOptions;
  protected readonly q: SqliteQueries;
  protected readonly errors = SQLITE_ERRORS;
  /** The raw connection under the Kysely instance, for BEGIN/COMMIT and the write path's statements. */
  #raw: Database.Database | undefined;
  #hot: SqliteHotStatements | undefined;
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
   * Opens the database (if not yet open), sets the PRAGMAs and brings the schema up to date with Kysely
   * migrations in one `BEGIN IMMEDIATE` transaction. Idempotent and safe to run from several processes
   * at once.
   * @throws {BackendUnavailableError} when the file cannot be opened or written (the message names the path).
   * @throws {ValidationError} on `options.path` when it is a directory.
   * @throws {TransientBackendError} when another connection holds the write lock past the busy timeout.
   */
  async init(): Promise<void> {
    await this.transact('init', (conn) => migrateSqliteSchema(conn, this.tableNames));
  }

  protected override newTx(conn: SqliteKysely): SqlTx {
    return new SqliteTx(conn, this.q, this.txHooks, this.#hotStatements(conn), this.#raw!);
  }

  /**
   * `transaction()` notices a `COMMIT` or `ROLLBACK` its callback ran on `uow.db`: a savepoint set here, released
   * before COMMIT ({@link transactionEnding}); a record written after it is refused too (`SqliteTx.writeRecord`).
   */
  protected override async transactionBegan(): Promise<void> {
    markTransactionOpen(this.#raw!);
  }

  /** @throws {ValidationError} naming `uow.db` when a statement on it ended the transaction. */
  protected override async transactionEnding(): Promise<void> {
    assertTransactionOpen(this.#raw!, 'mark');
  }

  #hotStatements(db: SqliteKysely): SqliteHotStatements {
    this.#hot ??= new SqliteHotStatements(this.#raw!, db, this.q);
    return this.#hot;
  }

  protected override get txHooks(): SqlTxHooks {
    return { ...super.txHooks, nextVersion: async (_db, atLeast) => this.#drawVersion(atLeast) };
  }

  /** The next version `> atLeast`, in the open transaction. */
  #drawVersion(atLeast = 0): number {
    // The high-water mark keeps a value drawn in a rolled-back transaction from being handed out again.
    const version = this.#hot!.nextVersion(Math.max(this.#versionHighWater, atLeast));
    this.#versionHighWater = Math.max(this.#versionHighWater, version);
    return version;
  }

  /**
   * The transactional-outbox write of `changes` (what the async strategies do for `put`/`putMany`/`delete`) in
   * one synchronous run on the connection: `BEGIN IMMEDIATE`, the rows read, planned by core's `planWrites`
   * (the transaction path's rules), versions drawn, record rows and outbox entries written, `COMMIT` — no
   * promise between two statements and no turn in Kysely's connection queue. While a transaction is open on
   * the connection (an application's {@link transaction}, or one of the store's own between two statements)
   * it takes the transaction path, after it.
   * @throws {TransientBackendError} when another connection holds the write lock past the busy timeout.
   * @throws {ValidationError} for a `now` that is not whole Unix ms, before anything runs.
   * @throws {ClosedError} after {@link close}.
   */
  async writeChanges(changes: readonly Change[], now: number): Promise<WriteResult[]> {
    this.checkTime(now, 'now');
    const db = this.use('writeChanges');
    if (changes.length === 0) return [];
    const raw = this.#raw!;
    if (raw.inTransaction) return this.transaction((tx) => writeChangesWithOutbox(tx, changes, now));
    let hot: SqliteHotStatements;
    try {
      hot = this.#hotStatements(db); // prepared on first use: fails while the schema is missing
      raw.exec('BEGIN IMMEDIATE');
    } catch (error) {
      throw this.mapError(error, 'writeChanges: BEGIN IMMEDIATE');
    }
    try {
      const current = new Map<string, StoredRecord>();
      for (const id of new Set(changes.map(changeId))) {
        const row = hot.getRecord(id);
        if (row !== undefined) current.set(id, toStoredRecord(row));
      }
      const plan = planWrites(changes, current, now);
      const versions = plan.rows.map(({ next, op }) => {
        const version = this.#drawVersion();
        hot.writeRecord({ ...next, version });
        hot.enqueue(next.id, version, op, now);
        return version;
      });
      raw.exec('COMMIT');
      return plan.results(versions);
    } catch (error) {
      rollbackQuietly(raw);
      throw this.mapError(error, 'writeChanges');
    }
  }

  /** Opens the file (creating it and its directory unless `create: false`) and sets the PRAGMAs. */
  protected open(): SqliteKysely {
    const { database, path, busyTimeoutMs, create } = this.#options;
    let opened: Database.Database | undefined;
    try {
      if (database === undefined && path !== ':memory:') {
        if (isDirectory(path!))
          throw new ValidationError('options.path', `${JSON.stringify(path)} is a directory`, {
            limit: 'a SQLite file (existing, or to be created)',
          });
        if (create) makeParentDirectory(path!);
        else if (!existsSync(path!))
          throw new BackendUnavailableError(
            `options.path ${JSON.stringify(path)} does not exist and options.create is false`,
            { component: SQLITE_COMPONENT },
          );
      }
      opened = database ?? new Database(path!, { timeout: busyTimeoutMs, fileMustExist: !create });
      opened.pragma(`busy_timeout = ${busyTimeoutMs}`);
      whileBusy(busyTimeoutMs, () => opened!.pragma('journal_mode = WAL'));
      opened.pragma('synchronous = NORMAL');
      opened.pragma('foreign_keys = ON');
      this.#raw = opened;
      return new Kysely<unknown>({ dialect: new SqliteDialect({ database: withStatementCache(opened) }) });
    } catch (error) {
      if (database === undefined) opened?.close();
      throw mapSqliteError(error, `open ${JSON.stringify(path ?? 'database')}`);
    }
  }

  /** Queues behind running operations, then closes the connection (unless it was passed in as `database`). */
  protected async shutdown(db: SqliteKysely): Promise<void> {
    this.#raw = undefined;
    this.#hot = undefined;
    await db.connection().execute(async () => {});
    if (this.#options.database === undefined) await db.destroy();
  }

  /** `BEGIN IMMEDIATE` … `COMMIT` on the pinned connection: the write lock up front. */
  protected override inTransaction<T>(
    db: SqliteKysely,
    operation: string,
    fn: (conn: SqliteKysely) => Promise<T>,
  ): Promise<T> {
    return db.connection().execute(async (conn) => {
      // The connection is held for this callback, so the raw handle runs inside it (no Kysely dispatch).
      const raw = this.#raw!;
      try {
        raw.exec('BEGIN IMMEDIATE');
      } catch (error) {
        throw this.mapError(error, `${operation}: BEGIN IMMEDIATE`);
      }
      let result: T;
      try {
        result = await fn(conn);
      } catch (error) {
        rollbackQuietly(raw);
        throw error;
      }
      try {
        raw.exec('COMMIT');
      } catch (error) {
        rollbackQuietly(raw);
        throw this.mapError(error, `${operation}: COMMIT`);
      }
      return result;
    });
  }
}

/**
 * Runs `fn` again after 1, 2, 4 … 50 ms while it fails with SQLITE_BUSY, for up to `timeoutMs`: switching a new
 * file to WAL while another process does the same can fail at once with "database is locked" without going
 * through the busy handler (seen when two processes open a new file together). Blocks like the busy handler.
 */
function whileBusy<T>(timeoutMs: number, fn: () => T): T {
  const until = Date.now() + timeoutMs;
  for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
    try {
      return fn();
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() + pause > until) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
    }
  }
}
