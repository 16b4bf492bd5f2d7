import {
  checkStoreTime,
  checkStoreVersion,
  type OutboxEntry,
  type OutboxOp,
  type RecordWrite,
  type RelationalTx,
  type StoredRecord,
  type TwoPhaseIntent,
  ValidationError,
} from '@dualwrite/core';
import type { SqlDb, SqlQueries } from './sql-queries.js';
import { type RecordRow, toOutboxEntry, toStoredRecord } from './sql-rows.js';

/** What a dialect's columns cannot store, for {@link refuseUnstorable}. */
export interface StorageRules {
  /** Component name of the store's errors. */
  component: string;
  /** Whether record text and ids may contain U+0000 (PostgreSQL `text` cannot store it). */
  nulInText: boolean;
  /**
   * Longest id the id column holds, UTF-8 bytes (MySQL `VARBINARY(1536)`; core's `maxIdLength` counts UTF-16
   * code units, and a raised limit could pass ids the column cannot store). `undefined`: no limit.
   */
  maxIdBytes?: number | undefined;
}

/**
 * Refuses, before anything is written, an id or a record text the dialect cannot store (see {@link StorageRules}).
 * The message names the record (its id, cut to 40 characters), so the refused one of a batch can be found.
 * @throws {ValidationError} on field `id` or `text`, naming the component.
 */
export function refuseUnstorable(rules: StorageRules, id: string, text?: string): void {
  const { component, maxIdBytes } = rules;
  if (!rules.nulInText && typeof text === 'string' && text.includes('\u0000'))
    throw new ValidationError(
      'text',
      `must not contain NUL (${component} cannot store U+0000), in record ${shortId(id)}`,
      {
        component,
        limit: 'no U+0000',
      },
    );
  if (!rules.nulInText && typeof id === 'string' && id.includes('\u0000'))
    throw new ValidationError(
      'id',
      `must not contain NUL (${component} cannot store U+0000): ${shortId(id)}`,
      {
        component,
        limit: 'no U+0000',
      },
    );
  if (maxIdBytes === undefined || typeof id !== 'string') return;
  const bytes = Buffer.byteLength(id);
  if (bytes > maxIdBytes)
    throw new ValidationError('id', `${shortId(id)} is ${bytes} UTF-8 bytes, more than ${component} stores`, {
      component,
      limit: `<= ${maxIdBytes} UTF-8 bytes`,
    });
}

/** `id` quoted for a message, cut to its first 40 characters. */
function shortId(id: string): string {
  return id.length > 40 ? `${JSON.stringify(id.slice(0, 40))}…` : JSON.stringify(id);
}

/**
 * The error for a record write or a commit after a statement the application ran on `uow.db` ended the
 * transaction of `dw.transaction()` (what ran before it is committed or rolled back; anything after it would run
 * in autocommit, a record row and its outbox row committed one by one).
 * @param ending - the statements that end a transaction on this dialect, for the message.
 */
export function transactionEnded(component: string, ending: string): ValidationError {
  return new ValidationError(
    'uow.db',
    `a statement run on it ended the transaction (${ending}): what ran before it is committed or rolled back, ` +
      'and the call can no longer be atomic; let dw.transaction() commit',
    { component, limit: 'no statement that ends the transaction inside transaction()' },
  );
}

/** What a {@link SqlTx} needs of its store. */
export interface SqlTxHooks extends StorageRules {
  /** Maps a driver error to core's typed errors (see `mapDriverError`). */
  mapError(error: unknown, operation: string): unknown;
  /** Draws the next version `> atLeast` (the dialect's sequence). */
  nextVersion(db: SqlDb, atLeast: number): Promise<number>;
  /** Called once per transaction, after its first enqueue (PostgreSQL: `NOTIFY`). */
  enqueued(db: SqlDb): Promise<void>;
  /**
   * Optional: refuses, before it is sent, a record the dialect cannot write in one statement (MySQL: larger
   * than the server's `max_allowed_packet`). Runs on the transaction's connection `db`.
   * @throws {ValidationError} naming the record's largest field.
   */
  checkRecord?(db: SqlDb, record: RecordWrite): Promise<void>;
}

/**
 * The unit of work a SQL store hands to `transaction(fn)`, written once: valid only until the callback
 * settles (later calls throw), driver errors mapped to core's typed errors. `native` is the Kysely instance
 * bound to the transaction. Where the dialect locks records ({@link SqlQueries.locksRecords}), the first
 * read or write of an id takes its lock, held until the transaction ends, so concurrent writers of one id
 * run one after the other and each reads the other's committed row.
 */
export class SqlTx implements RelationalTx<SqlDb> {
  #open = true;
  #enqueued = false;
  #wroteRecords = false;
  /** Ids whose lock this transaction holds. */
  readonly #locked = new Set<string>();
  /**
   * Whether a lock statement ran since `beforeWrite` (where it checks the transaction: see
   * `SqlQueries.lockChecksTransaction`); until then ids held are locked again.
   */
  #checked = true;

  constructor(
    readonly native: SqlDb,
    protected readonly q: SqlQueries,
    protected readonly hooks: SqlTxHooks,
  ) {}

  /** Whether a record row was written through this transaction (`writeRecord`). */
  get wroteRecords(): boolean {
    return this.#wroteRecords;
  }

  /** Ends the tx object's life: later calls throw. */
  finish(): void {
    this.#open = false;
  }

  /** Runs one operation of the tx: refused after the callback settled; driver errors mapped. */
  protected async run<T>(operation: string, fn: () => Promise<T> | T): Promise<T> {
    if (!this.#open)
      throw new Error(
        `[dualwrite] [${this.hooks.component}] tx.${operation}() called after the transaction callback settled`,
      );
    try {
      return await fn();
    } catch (error) {
      throw this.hooks.mapError(error, `tx.${operation}`);
    }
  }

  /**
   * Refuses a record row whose `version`, `syncedVersion` or `now` is not a whole number (core's
   * `checkStoreVersion`, `checkStoreTime`): what `writeRecord` checks before anything is written.
   * @throws {ValidationError} naming the field.
   */
  protected checkRecordWrite(record: RecordWrite): void {
    const { component } = this.hooks;
    checkStoreVersion(record.version, 'record.version', component);
    if (record.syncedVersion !== null)
      checkStoreVersion(record.syncedVersion, 'record.syncedVersion', component);
    checkStoreTime(record.now, 'record.now', component);
  }

  /**
   * Refuses an outbox entry's `version` or `now` that is not a whole number: what `enqueue` checks first.
   * @throws {ValidationError} naming the argument.
   */
  protected checkEntry(version: number, now: number): void {
    checkStoreVersion(version, 'version', this.hooks.component);
    checkStoreTime(now, 'now', this.hooks.component);
  }

  /** Whether `id`'s lock statement must run: not held yet, or held and the write must be checked again. */
  #mustLock(id: string): boolean {
    return this.q.locksRecords && (!this.#locked.has(id) || !this.#checked);
  }

  async #lock(id: string): Promise<void> {
    if (!this.#mustLock(id)) return;
    await this.q.lockRecords(this.native, [id]);
    this.#locked.add(id);
    this.#checked = true;
  }

  /** Core starts a write for a caller that may have run statements on `native` (see `RelationalTx.beforeWrite`). */
  beforeWrite(): void {
    if (this.q.lockChecksTransaction) this.#checked = false;
  }

  /**
   * Takes the locks of all `ids` at once, in the dialect's order (`SqlQueries.lockRecords`: PostgreSQL by
   * advisory lock key, MySQL by lock slot — the order of their one-statement writes), where records lock;
   * later reads and writes of them take nothing more.
   */
  lockRecords(ids: readonly string[]): Promise<void> {
    return this.run('lockRecords', async () => {
      const missing = [...new Set(ids)].filter((id) => this.#mustLock(id));
      if (missing.length === 0) return;
      await this.q.lockRecords(this.native, missing);
      for (const id of missing) this.#locked.add(id);
      this.#checked = true;
    });
  }

  /** Takes the id's lock (where records lock), then reads the row. */
  getRecord(id: string): Promise<StoredRecord | undefined> {
    return this.run('getRecord', async () => {
      let row: RecordRow | undefined;
      if (this.#mustLock(id)) {
        row = await this.q.lockAndGetRecord(this.native, id);
        this.#locked.add(id);
        this.#checked = true;
      } else row = await this.q.getRecord(this.native, id);
      return row === undefined ? undefined : toStoredRecord(row);
    });
  }

  /** @throws {ValidationError} naming `atLeast` unless it is a version (core's `checkStoreVersion`). */
  nextVersion(atLeast = 0): Promise<number> {
    return this.run('nextVersion', () => {
      checkStoreVersion(atLeast, 'atLeast', this.hooks.component);
      return this.hooks.nextVersion(this.native, atLeast);
    });
  }

  /**
   * @throws {ValidationError} for text containing U+0000 where the dialect cannot store it, a record it
   *   cannot write in one statement (`SqlTxHooks.checkRecord`), or a `version`, `syncedVersion` or `now` that is
   *   not a whole number (core's `checkStoreVersion`, `checkStoreTime`).
   */
  writeRecord(record: RecordWrite): Promise<void> {
    return this.run('writeRecord', async () => {
      this.checkRecordWrite(record);
      refuseUnstorable(this.hooks, record.id, record.text);
      await this.hooks.checkRecord?.(this.native, record);
      await this.#lock(record.id);
      await this.q.writeRecord(this.native, record);
      this.#wroteRecords = true;
    });
  }

  /** @throws {ValidationError} naming `version` or `now` unless whole (core's `checkStoreVersion`, `checkStoreTime`). */
  enqueue(recordId: string, version: number, op: OutboxOp, now: number): Promise<void> {
    return this.run('enqueue', async () => {
      this.checkEntry(version, now);
      await this.#lock(recordId);
      await this.q.enqueue(this.native, recordId, version, op, now);
      if (!this.#enqueued) {
        this.#enqueued = true;
        await this.hooks.enqueued(this.native);
      }
    });
  }

  getOutboxEntry(recordId: string): Promise<OutboxEntry | undefined> {
    return this.run('getOutboxEntry', async () => {
      const { rows } = await this.q.getOutboxQuery(recordId).execute(this.native);
      return rows[0] && toOutboxEntry(rows[0]);
    });
  }

  countIntents(recordId: string): Promise<number> {
    return this.run('countIntents', () => this.q.countIntents(this.native, recordId));
  }

  /**
   * @throws {ValidationError} for an id longer than the dialect's id column (see {@link refuseUnstorable}), or an
   *   `intent.version` or `intent.expiresAt` that is not whole.
   */
  putIntent(intent: TwoPhaseIntent): Promise<void> {
    return this.run('putIntent', async () => {
      checkStoreVersion(intent.version, 'intent.version', this.hooks.component);
      checkStoreTime(intent.expiresAt, 'intent.expiresAt', this.hooks.component);
      refuseUnstorable(this.hooks, intent.recordId);
      await this.q.putIntent(this.native, intent);
    });
  }

  async deleteIntent(token: string): Promise<boolean> {
    return this.run('deleteIntent', () => this.q.deleteIntent(this.native, token));
  }
}
