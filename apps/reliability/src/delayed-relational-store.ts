import type {
  AckOutcome,
  ClaimOptions,
  EmbeddingCache,
  EmbeddingUpdate,
  OutboxAck,
  OutboxEntry,
  OutboxFailure,
  OutboxLease,
  OutboxStats,
  RecordVersion,
  RelationalStore,
  RelationalTx,
  StoredRecord,
  SyncedOrder,
  SyncedVersion,
  TwoPhaseIntent,
} from '@dualwrite/core';
import type { PhaseName } from './protocol.js';

/** A delay in ms, fixed or drawn per transaction. */
export type DelaySpec = number | (() => number);

/** Options of {@link DelayedRelationalStore}. */
export interface DelayedRelationalStoreOptions {
  /** Delay inside each `transaction()` before the callback runs (the write lock is already held). */
  beforeMs?: DelaySpec;
  /** Delay inside each `transaction()` after the callback resolved, before COMMIT. */
  afterMs?: DelaySpec;
  /**
   * Awaited before transaction number `index` (0-based, in start order) begins, outside of it (no lock
   * held). Lets a test hold a writer between two of its transactions, deterministically.
   */
  beforeBegin?: (index: number) => Promise<void> | void;
  /**
   * Awaited inside transaction number `index` before its callback (the write lock is held). Lets a test
   * hold a specific transaction open, deterministically.
   */
  beforeCallback?: (index: number) => Promise<void> | void;
  /** Awaited inside transaction number `index` after its callback resolved, before COMMIT. */
  beforeCommit?: (index: number) => Promise<void> | void;
  /**
   * Phase reports: `sql-tx` spans the whole transaction (BEGIN to COMMIT done), `sql-commit` spans from the
   * callback's end to COMMIT done (killing the process inside it leaves the transaction uncommitted).
   */
  onPhase?: (phase: PhaseName, edge: 'b' | 'e', key: number) => void;
  /**
   * Runs every writing call (transactions and the store's own write operations) under this lock. Give
   * several stores in **one** process the same {@link AsyncLock} to make them behave like separate processes:
   * better-sqlite3 is synchronous, so a connection waiting for another in-process connection's write lock
   * blocks the event loop the other one needs to finish — a stall of `busyTimeoutMs`, then SQLITE_BUSY.
   */
  lock?: AsyncLock;
}

/** A FIFO async mutex. */
export class AsyncLock {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after every earlier holder finished. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => {});
    return result;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const draw = (d: DelaySpec | undefined) => (typeof d === 'function' ? d() : (d ?? 0));

/**
 * Wraps a **real** {@link RelationalStore} and slows down (or holds) its transactions: a delay before the
 * callback and one after it, both inside the SQL transaction, so a crash, a lock or a concurrent writer lands
 * while the transaction is open. Everything else is passed through unchanged.
 */
export class DelayedRelationalStore<Native = unknown> implements RelationalStore<Native> {
  private transactions = 0;

  constructor(
    /** The real store. */
    readonly inner: RelationalStore<Native>,
    private readonly options: DelayedRelationalStoreOptions = {},
  ) {
    if (inner.subscribeOutbox) this.subscribeOutbox = (listener) => inner.subscribeOutbox!(listener);
    // Without insertMeta, processes of one source starting at once can draw different owner tokens (core falls
    // back to get-then-set) and refuse each other's index: pass the store's atomic one through.
    if (inner.insertMeta) this.insertMeta = (key, value) => this.locked(() => inner.insertMeta!(key, value));
    if (inner.recentlySynced)
      this.recentlySynced = (limit, above, order) => inner.recentlySynced!(limit, above, order);
    if (inner.releaseClaims) this.releaseClaims = (owners) => this.locked(() => inner.releaseClaims!(owners));
    if (inner.purgeTombstones) this.purgeTombstones = (ids) => this.locked(() => inner.purgeTombstones!(ids));
    if (inner.pruneCachedEmbeddings)
      this.pruneCachedEmbeddings = (usedBefore, limit) =>
        this.locked(() => inner.pruneCachedEmbeddings!(usedBefore, limit));
    // Leases and intent expiries are read on the database's clock: without it a process on a skewed clock
    // would take other processes' leases as expired.
    if (inner.sourceTime) this.sourceTime = () => inner.sourceTime!();
  }

  get name(): string {
    return this.inner.name;
  }

  /** Transactions started so far. */
  get transactionCount(): number {
    return this.transactions;
  }

  init(): Promise<void> {
    return this.locked(() => this.inner.init());
  }

  async transaction<T>(fn: (tx: RelationalTx<Native>) => Promise<T>): Promise<T> {
    const index = this.transactions++;
    const { onPhase } = this.options;
    await this.options.beforeBegin?.(index);
    let committing = false;
    return this.locked(async () => {
      onPhase?.('sql-tx', 'b', index);
      try {
        return await this.inner.transaction(async (tx) => {
          const before = draw(this.options.beforeMs);
          if (before > 0) await sleep(before);
          await this.options.beforeCallback?.(index);
          const result = await fn(tx);
          committing = true;
          onPhase?.('sql-commit', 'b', index);
          const after = draw(this.options.afterMs);
          if (after > 0) await sleep(after);
          await this.options.beforeCommit?.(index);
          return result;
        });
      } finally {
        if (committing) onPhase?.('sql-commit', 'e', index);
        onPhase?.('sql-tx', 'e', index);
      }
    });
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.options.lock ? this.options.lock.run(fn) : fn();
  }

  getRecords(
    ids: readonly string[],
    options?: { includeDeleted?: boolean },
  ): Promise<Map<string, StoredRecord>> {
    return this.inner.getRecords(ids, options);
  }
  listRecords(options: { after?: string; limit: number }): Promise<StoredRecord[]> {
    return this.inner.listRecords!(options);
  }
  listVersions(options: { after?: string; limit: number }): Promise<RecordVersion[]> {
    return this.inner.listVersions(options);
  }
  countRecords(): Promise<number> {
    return this.inner.countRecords!();
  }
  setEmbeddings(updates: readonly EmbeddingUpdate[]): Promise<boolean[]> {
    return this.locked(() => this.inner.setEmbeddings!(updates));
  }
  markSynced(id: string, version: number): Promise<void> {
    return this.locked(() => this.inner.markSynced!(id, version));
  }
  claimOutbox(options: ClaimOptions): Promise<OutboxLease[]> {
    return this.locked(() => this.inner.claimOutbox(options));
  }
  ackOutbox(acks: readonly OutboxAck[], now: number): Promise<AckOutcome[]> {
    return this.locked(() => this.inner.ackOutbox(acks, now));
  }
  failOutbox(failure: OutboxFailure): Promise<'retry' | 'dead' | 'lease-lost'> {
    return this.locked(() => this.inner.failOutbox(failure));
  }
  releaseOutbox(
    leases: readonly Pick<OutboxLease, 'recordId' | 'leaseToken'>[],
    retryAt: number,
  ): Promise<void> {
    return this.locked(() => this.inner.releaseOutbox(leases, retryAt));
  }
  renewOutbox(
    leases: readonly Pick<OutboxLease, 'recordId' | 'leaseToken'>[],
    leaseUntil: number,
  ): Promise<string[]> {
    return this.locked(() => this.inner.renewOutbox(leases, leaseUntil));
  }
  enqueueRepairs(ids: readonly string[], now: number): Promise<number> {
    return this.locked(() => this.inner.enqueueRepairs!(ids, now));
  }
  currentVersion(): Promise<number> {
    return this.inner.currentVersion();
  }
  getMeta(key: string): Promise<string | undefined> {
    return this.inner.getMeta(key);
  }
  setMeta(key: string, value: string | null): Promise<void> {
    return this.locked(() => this.inner.setMeta(key, value));
  }
  getOutboxEntry(id: string): Promise<OutboxEntry | undefined> {
    return this.inner.getOutboxEntry!(id);
  }
  listDeadLetters(options: { after?: string; limit: number }): Promise<OutboxEntry[]> {
    return this.inner.listDeadLetters(options);
  }
  requeueDeadLetters(ids: readonly string[] | undefined, now: number): Promise<number> {
    return this.locked(() => this.inner.requeueDeadLetters(ids, now));
  }
  outboxStats(now: number): Promise<OutboxStats> {
    return this.inner.outboxStats(now);
  }
  maxPendingVersion(): Promise<number | null> {
    return this.inner.maxPendingVersion!();
  }
  listExpiredIntents(now: number, limit: number): Promise<TwoPhaseIntent[]> {
    return this.inner.listExpiredIntents!(now, limit);
  }
  getCachedEmbeddings(
    ...args: Parameters<EmbeddingCache['getCachedEmbeddings']>
  ): Promise<Map<string, number[]>> {
    return this.inner.getCachedEmbeddings!(...args);
  }
  putCachedEmbeddings(...args: Parameters<EmbeddingCache['putCachedEmbeddings']>): Promise<void> {
    return this.locked(() => this.inner.putCachedEmbeddings!(...args));
  }
  /** Present when the inner store has it. */
  pruneCachedEmbeddings?: (usedBefore: number, limit: number) => Promise<number>;
  /** Present when the inner store has it. */
  subscribeOutbox?: RelationalStore<Native>['subscribeOutbox'];
  /** Present when the inner store has it. */
  insertMeta?: (key: string, value: string) => Promise<string>;
  /** Present when the inner store has it. */
  recentlySynced?: (limit: number, above?: number, order?: SyncedOrder) => Promise<SyncedVersion[]>;
  /** Present when the inner store has it. */
  releaseClaims?: (owners: readonly string[]) => Promise<number>;
  /** Present when the inner store has it. */
  purgeTombstones?: (ids: readonly string[]) => Promise<number>;
  /** Present when the inner store has it. */
  sourceTime?: () => Promise<number>;
  close(): Promise<void> {
    return this.inner.close();
  }
}
