import {
  type AckOutcome,
  ackDelivery,
  type ClaimOptions,
  enqueueRepair,
  failDelivery,
  type OutboxAck,
  type OutboxEntry,
  type OutboxFailure,
  type OutboxLease,
  type OutboxStats,
  type RecordVersion,
  type RelationalStore,
  type RelationalTx,
  releaseLease,
  renewLease,
  resolveIntent,
  type StoredRecord,
  type TwoPhaseIntent,
  ValidationError,
  validateMetaKey,
} from '@dualwrite/core';
import { SqlLedgerTx } from './sql-ledger-tx.js';
import type { SqlDb, SqlQueries } from './sql-queries.js';

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
export abstract class SqlRelationalStore implements RelationalStore<SqlDb> {
  abstract readonly name: string;

  /** The dialect's statements. */
  protected abstract readonly q: SqlQueries;

  /** Component name carried by this store's errors (`'sqlite'`, `'postgres'`). */
  protected abstract readonly component: string;

  /**
   * Runs `fn` on the store's connection outside an explicit transaction (one statement, or reads that
   * need no common snapshot), mapping driver errors to core's typed errors.
   * @throws {ClosedError} after `close()`.
   */
  protected abstract read<T>(operation: string, fn: (db: SqlDb) => Promise<T>): Promise<T>;

  /**
   * Runs `fn` in one write transaction that holds the per-record locks of `lockIds` (a dialect whose write
   * transactions already exclude each other may ignore them), committing when it resolves.
   * @throws {ClosedError} after `close()`.
   */
  protected abstract write<T>(
    operation: string,
    lockIds: readonly string[],
    fn: (db: SqlDb) => Promise<T>,
  ): Promise<T>;

  /** Throws what `read` would for an unusable store (closed, called inside a transaction callback). */
  protected abstract assertUsable(operation: string): void;

  /** Called inside a write transaction that enqueued outbox work (PostgreSQL: `NOTIFY`). Default: nothing. */
  protected async enqueued(_db: SqlDb): Promise<void> {}

  abstract init(): Promise<void>;
  abstract transaction<T>(fn: (tx: RelationalTx<SqlDb>) => Promise<T>): Promise<T>;
  abstract claimOutbox(options: ClaimOptions): Promise<OutboxLease[]>;
  abstract putCachedEmbeddings(
    entries: readonly { key: string; embedding: readonly number[] }[],
  ): Promise<void>;
  abstract close(): Promise<void>;

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
    fn: (tx: SqlLedgerTx, db: SqlDb) => Promise<T>,
  ): Promise<T> {
    return this.write(operation, lockIds, (db) => fn(new SqlLedgerTx(db, this.q), db));
  }

  /** Records by id (tombstones only with `includeDeleted`); missing ids are absent. Ids compare exactly. */
  async getRecords(
    ids: readonly string[],
    options: { includeDeleted?: boolean } = {},
  ): Promise<Map<string, StoredRecord>> {
    return this.read('getRecords', async (db) => {
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
    return this.read('listRecords', (db) => this.q.listRecords(db, options.after, options.limit));
  }

  /**
   * `(id, version, deleted)` of all rows, tombstones included, ordered by id (code point order), `id > after`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000.
   */
  async listVersions(options: { after?: string; limit: number }): Promise<RecordVersion[]> {
    this.checkLimit('limit', options.limit);
    return this.read('listVersions', (db) => this.q.listVersions(db, options.after, options.limit));
  }

  /** Number of live records (tombstones excluded). */
  async countRecords(): Promise<number> {
    return this.read('countRecords', (db) => this.q.countRecords(db));
  }

  /**
   * Stores `embedding` (float32) if the record is live and still at `version`, in one statement (a concurrent
   * writer's newer version makes it a no-op); `version`, `updatedAt` and `contentHash` stay. Returns `false`
   * when the record moved on, is a tombstone or is gone.
   */
  async setEmbedding(id: string, version: number, embedding: readonly number[]): Promise<boolean> {
    return this.read('setEmbedding', (db) => this.q.setEmbedding(db, id, version, embedding));
  }

  /** Raises `syncedVersion` to `version` if that is higher (a missing record is ignored). */
  async markSynced(id: string, version: number): Promise<void> {
    await this.read('markSynced', (db) => this.q.markSynced(db, id, version));
  }

  /**
   * Acknowledges deliveries in one transaction, in order, by core's ledger (`ackDelivery`): a token no
   * longer on the entry → `'lease-lost'` and a repair of the current state; a newer version enqueued
   * meanwhile → `'superseded'` (lease cleared, claimable now); otherwise `'acked'` (entry deleted, a
   * tombstone at `appliedVersion` or older purged unless a sync-2pc intent for it exists). `syncedVersion` is
   * raised for `'acked'` and `'superseded'`.
   */
  async ackOutbox(acks: readonly OutboxAck[], now: number): Promise<AckOutcome[]> {
    if (acks.length === 0) {
      this.assertUsable('ackOutbox');
      return [];
    }
    return this.ledger(
      'ackOutbox',
      acks.map((a) => a.recordId),
      async (tx, db) => {
        const outcomes: AckOutcome[] = [];
        for (const ack of acks) outcomes.push(await ackDelivery(tx, ack, now));
        if (outcomes.includes('lease-lost')) await this.enqueued(db);
        return outcomes;
      },
    );
  }

  /**
   * Records a failed delivery in one transaction, by core's ledger (`failDelivery`): token mismatch →
   * `'lease-lost'`; otherwise an attempt is charged and the entry retries at `retryAt` or goes to dead letter
   * (`permanent`, or `maxAttempts` reached) — unless a newer version was enqueued under the lease, which is
   * never charged for the older one's failure.
   */
  async failOutbox(failure: OutboxFailure): Promise<'retry' | 'dead' | 'lease-lost'> {
    return this.ledger('failOutbox', [failure.recordId], (tx) => failDelivery(tx, failure));
  }

  /** Extends the leases still held under their tokens (on pending entries) to `leaseUntil`; returns their ids. */
  async renewOutbox(leases: readonly LeaseRef[], leaseUntil: number): Promise<string[]> {
    if (leases.length === 0) {
      this.assertUsable('renewOutbox');
      return [];
    }
    return this.ledger('renewOutbox', [], async (tx) => {
      const held: string[] = [];
      for (const lease of leases) if (await renewLease(tx, lease, leaseUntil)) held.push(lease.recordId);
      return held;
    });
  }

  /** Gives the leases back (tokens no longer held are ignored), claimable at `retryAt`; no attempt charged. */
  async releaseOutbox(leases: readonly LeaseRef[], retryAt: number): Promise<void> {
    if (leases.length === 0) {
      this.assertUsable('releaseOutbox');
      return;
    }
    await this.ledger('releaseOutbox', [], async (tx) => {
      for (const lease of leases) await releaseLease(tx, lease, retryAt);
    });
  }

  /**
   * Enqueues each distinct id's current state in one transaction holding the ids' locks: `'upsert'` at the
   * record's version when live, `'delete'` at the tombstone's version, or `'delete'` at the highest version
   * handed out so far when there is no row. Returns the number of distinct ids enqueued.
   */
  async enqueueRepairs(ids: readonly string[], now: number): Promise<number> {
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
    return this.read('getOutboxEntry', (db) => this.q.getOutboxEntry(db, id));
  }

  /**
   * Dead letters ordered by record id (code point order), `recordId > after`, at most `limit`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000.
   */
  async listDeadLetters(options: { after?: string; limit: number }): Promise<OutboxEntry[]> {
    this.checkLimit('limit', options.limit);
    return this.read('listDeadLetters', (db) => this.q.listDeadLetters(db, options.after, options.limit));
  }

  /**
   * Moves dead letters (all, or only `ids`) back to pending: attempts 0, `nextAttemptAt = enqueuedAt = now`
   * (like a fresh enqueue of a dead entry); `lastError` is kept. Returns how many moved.
   */
  async requeueDeadLetters(ids: readonly string[] | undefined, now: number): Promise<number> {
    return this.write('requeueDeadLetters', [], async (db) => {
      const n = await this.q.requeueDeadLetters(db, ids, now);
      if (n > 0) await this.enqueued(db);
      return n;
    });
  }

  /** Outbox gauges as of `now` (a lease is in flight while `leaseUntil > now`), in one statement. */
  async outboxStats(now: number): Promise<OutboxStats> {
    return this.read('outboxStats', (db) => this.q.outboxStats(db, now));
  }

  /** Highest version among `pending` entries (leased or not); dead letters do not count. */
  async maxPendingVersion(): Promise<number | null> {
    return this.read('maxPendingVersion', (db) => this.q.maxPendingVersion(db));
  }

  /**
   * Intents with `expiresAt <= now`, soonest-expired first, at most `limit`.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000.
   */
  async listExpiredIntents(now: number, limit: number): Promise<TwoPhaseIntent[]> {
    this.checkLimit('limit', limit);
    return this.read('listExpiredIntents', (db) => this.q.listExpiredIntents(db, now, limit));
  }

  /**
   * In one transaction holding the record's lock: deletes the intent and enqueues its record's current state
   * (core's `resolveIntent`). Returns `false` when the intent was already gone.
   */
  async resolveIntent(token: string, now: number): Promise<boolean> {
    const recordId = await this.read('resolveIntent', (db) => this.q.intentRecordId(db, token));
    if (recordId === undefined) return false;
    return this.ledger('resolveIntent', [recordId], async (tx, db) => {
      if (!(await resolveIntent(tx, token, now))) return false;
      await this.enqueued(db);
      return true;
    });
  }

  /** Cached embeddings by key; missing keys are absent. */
  async getCachedEmbeddings(keys: readonly string[]): Promise<Map<string, number[]>> {
    return this.read('getCachedEmbeddings', (db) => this.q.getCachedEmbeddings(db, keys));
  }

  /** Highest version the sequence has handed out (0 when none). */
  async currentVersion(): Promise<number> {
    return this.read('currentVersion', (db) => this.q.currentVersion(db));
  }

  /** The value stored under `key`, or `undefined`. @throws {ValidationError} for a key not of 1..200 characters. */
  async getMeta(key: string): Promise<string | undefined> {
    validateMetaKey(key, this.component);
    return this.read('getMeta', (db) => this.q.getMeta(db, key));
  }

  /** Stores `value` under `key`; `null` removes it. @throws {ValidationError} for a key not of 1..200 characters. */
  async setMeta(key: string, value: string | null): Promise<void> {
    validateMetaKey(key, this.component);
    await this.read('setMeta', (db) => this.q.setMeta(db, key, value));
  }
}
