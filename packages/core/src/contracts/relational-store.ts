import type { SyncedOrder } from '../record/synced-order.js';
import type { Metadata, RecordVersion, StoredRecord, SyncedVersion } from '../record/types.js';
import type {
  AckOutcome,
  ClaimOptions,
  OutboxAck,
  OutboxEntry,
  OutboxFailure,
  OutboxLease,
  OutboxOp,
  OutboxStats,
  ReleaseOptions,
  TwoPhaseIntent,
} from './outbox.js';
import type { Change, WriteResult } from './write-strategy.js';

/** The full state of a record write, as {@link RelationalTx.writeRecord} persists it. */
export interface RecordWrite {
  id: string;
  text: string;
  embedding: readonly number[] | null;
  metadata: Metadata;
  version: number;
  deleted: boolean;
  contentHash: string;
  /**
   * The version the vector index is known to hold: set to `version` when it already holds this write
   * (sync-2pc); `null` leaves the stored value unchanged (it never goes down).
   */
  syncedVersion: number | null;
  /** Unix ms. */
  now: number;
}

/** One push wake-up of {@link RelationalStore.subscribeOutbox}. */
export interface OutboxWakeUp {
  /**
   * `true` when the store can tell the enqueue came through one of its own connections (PostgreSQL: the
   * notifying backend is one of its pool's): a facade over this store woke its own drainer for it already.
   * `false` when it came from elsewhere, or the store cannot tell.
   */
  ownWrite: boolean;
}

/** What a store's push wake-ups ({@link RelationalStore.subscribeOutbox}) have seen. Times are Unix ms. */
export interface WakeUpHealth {
  /** Open subscriptions in this process. */
  subscriptions: number;
  /** Whether a subscription is connected and listening now. */
  listening: boolean;
  /** Connections lost and re-opened since start. */
  reconnects: number;
  /** When the last wake-up arrived, or `null`. */
  lastNotificationAt: number | null;
  /**
   * Whether the store's own check that a wake-up sent the way writes send theirs arrives came through last
   * time; `null` when not checked (yet). `false` means wake-ups do not reach this process (a pooler in
   * transaction mode, say): the drainer then polls as for a store without wake-ups, from 200 ms (or
   * `pollIntervalMs` if shorter) backing off to `pollIntervalMs` while idle.
   */
  notificationsDelivered: boolean | null;
}

/**
 * A unit of work inside one SQL transaction. Everything done through it commits or rolls back together.
 * `native` is the backend's own transaction handle (for SQL stores, a Kysely instance bound to the
 * transaction) so an application can write its own tables in the same transaction.
 */
export interface RelationalTx<Native = unknown> extends Partial<IntentLogTx> {
  /** Backend transaction handle for app-owned tables (e.g. `Kysely<any>` bound to this transaction). */
  readonly native: Native;
  /** The record including tombstones, or `undefined`. */
  getRecord(id: string): Promise<StoredRecord | undefined>;
  /**
   * Optional: takes the write locks of all `ids` at once, in the store's own order, held until the
   * transaction ends (later reads and writes of them take nothing more). Core's transactions that write
   * several ids call it first — `putMany`'s transaction path, sync-2pc's prepare and commit — so they lock
   * ids in one order and cannot deadlock with each other. (An application's `dw.transaction` unit of work
   * locks ids in the order it writes them: a store that runs core's multi-id work in its own transactions, as
   * the SQL stores do, tries the locks there first and never waits while holding one.) Stores without
   * per-record locks omit it.
   */
  lockRecords?(ids: readonly string[]): Promise<void>;
  /**
   * Optional: core is about to write records for a caller that may have run its own statements on
   * {@link native} since the last write (`dw.transaction`'s `uow.put`/`uow.delete`). A store whose per-write
   * check of the transaction rides on a statement it would skip for an id it already locked runs that
   * statement again for the next write (PostgreSQL: the lock statement notices a `COMMIT` or `ROLLBACK` on
   * `uow.db`). Synchronous; no statement of its own.
   */
  beforeWrite?(): void;
  /**
   * Next value of the store-wide version sequence: strictly increasing, and never reused by a committed
   * transaction (a value drawn in a rolled-back transaction may be drawn again, since it was never seen).
   * With `atLeast`, the sequence first moves past it, so the value is `> atLeast` and so is every later
   * one (used when the vector index holds versions the source no longer knows: a database restored from a
   * backup, a reset sequence).
   */
  nextVersion(atLeast?: number): Promise<number>;
  /** Inserts or replaces the record row (a tombstone when `deleted`). */
  writeRecord(record: RecordWrite): Promise<void>;
  /**
   * Enqueues delivery of `version` for `recordId`. If a pending or dead entry exists for the id, it is
   * replaced: version and op updated, attempts reset to 0, state `pending`, `nextAttemptAt = now`,
   * `enqueuedAt` kept if the entry was pending (oldest undelivered change), lease kept but marked as
   * overtaken (its `leaseVersion` left below the entry's version, `version - 1` for the same version): that
   * lease's ack then reports `superseded` and the entry is delivered again, even at the same version — the
   * enqueue may be a repair of a stale write that landed after the lease's delivery did.
   */
  enqueue(recordId: string, version: number, op: OutboxOp, now: number): Promise<void>;
  /** The outbox entry for `recordId` (pending or dead, leased or not), or `undefined`. */
  getOutboxEntry(recordId: string): Promise<OutboxEntry | undefined>;
}

/**
 * sync-2pc's intent log, inside a transaction. An optional capability: a store that has it implements all
 * of {@link IntentLogTx} and {@link IntentLogStore} (see {@link hasIntentLog}); one without it cannot run
 * the `sync-2pc` strategy (`createDualWrite` refuses it) and has no intents to keep tombstones for.
 */
export interface IntentLogTx {
  /** Logs a sync-2pc intent. */
  putIntent(intent: TwoPhaseIntent): Promise<void>;
  /** Number of sync-2pc intents currently logged for `recordId` (a concurrent writer's included). */
  countIntents(recordId: string): Promise<number>;
  /** Removes an intent; returns `false` if it was not there (already resolved by recovery). */
  deleteIntent(token: string): Promise<boolean>;
}

/** sync-2pc's intent log, on the store: recovery of abandoned intents. See {@link IntentLogTx}. */
export interface IntentLogStore {
  /** Intents whose `expiresAt <= now` (abandoned by a crashed or stuck writer), at most `limit`. */
  listExpiredIntents(now: number, limit: number): Promise<TwoPhaseIntent[]>;
  /**
   * Optional: deletes the settled tombstones among `ids` (at most 10,000) — a deleted record whose delete the
   * index acknowledged (`syncedVersion` equal to its version), with no outbox entry and no intent for its id —
   * and returns how many. sync-2pc writes a delete it delivered in the call as such a tombstone (the async
   * strategies purge theirs at the ack) and calls this right after its commit, so a delete-heavy sync-2pc
   * workload does not grow the records table for good; `reconcile()` calls it for the tombstones it walks past.
   * Each row is checked as it is deleted: a write of the id meanwhile keeps it.
   * @throws {ValidationError} naming `ids` for more than 10,000.
   */
  purgeTombstones?(ids: readonly string[]): Promise<number>;
}

/** What sync-2pc's prepare read and reserved for one id (see {@link TwoPhaseFastPath.prepareIntents}). */
export interface PreparedIntent {
  /** The record before the change (tombstones included), read under the id's lock. */
  previous: StoredRecord | undefined;
  /** The version drawn for the id (unused when core finds the change to be a no-op). */
  version: number;
  /** Whether the id had an outbox entry (a worker may be delivering an older state of it). */
  contended: boolean;
}

/** A prepared sync-2pc write whose vector write is done, to commit (see {@link TwoPhaseFastPath.commitIntents}). */
export interface IntentCommit {
  /** The intent logged at prepare. */
  token: string;
  /** The row to write, with the version drawn at prepare. */
  next: RecordWrite;
  /** The outbox op of the write (`'delete'` for a tombstone). */
  op: OutboxOp;
  /** The record's version read at prepare, `null` when there was none. */
  previousVersion: number | null;
  /** {@link PreparedIntent.contended} of the prepare. */
  contended: boolean;
}

/** Options of a sync-2pc commit (see {@link TwoPhaseFastPath.commitIntents}). */
export interface IntentCommitOptions {
  /** Unix ms, the rows' `updatedAt` (and `createdAt` when new) and the enqueue time. */
  now: number;
  /** The vector write failed and is left to the outbox: every write is enqueued, none is marked synced. */
  deferred: boolean;
  /** Intents of no-op changes, deleted in the same transaction. */
  dropTokens: readonly string[];
}

/**
 * Optional fast path of sync-2pc's two transactions, for a store that runs each in one round trip
 * (PostgreSQL: two functions its migrations install). Both must do exactly what core's transaction path does
 * (`prepareIntentsInTx` and `commitIntentsInTx`); the relational suite compares them step by step. Core
 * decides everything else (no-ops, the rows to write) with `planOne`.
 */
export interface TwoPhaseFastPath {
  /**
   * One transaction: takes the ids' locks (all of them, in the store's lock order), then for each change
   * (distinct ids, in the order given — core sorts them) reads its row and whether it has an outbox entry,
   * draws a version (in order) and logs the intent `{ token: tokens[i], recordId, version, expiresAt }` (Unix
   * ms). Results in the order given.
   * @throws {ValidationError} for an id or a text the store cannot hold, before anything is written.
   */
  prepareIntents(
    changes: readonly Change[],
    tokens: readonly string[],
    expiresAt: number,
  ): Promise<PreparedIntent[]>;
  /**
   * One transaction: sync-2pc's commit (core's `commitIntentsInTx`: the writes' locks, the no-ops' intents
   * deleted, then core's `commitStep` rule for each write), in the order given.
   * @returns the ids it enqueued (the writes `commitStep` did not mark synced), as `commitIntentsInTx` does; or
   *   `undefined` when the store cannot say which (sync-2pc then awaits every write's delivery: one read of each
   *   outbox entry, and a wait for those enqueued).
   * @throws the store's typed errors (`TransientBackendError` for a deadlock or lock timeout, ...).
   */
  commitIntents(
    writes: readonly IntentCommit[],
    options: IntentCommitOptions,
  ): Promise<readonly string[] | undefined>;
}

/**
 * A cache of computed embeddings by `<embedder id>:<text hash>`, so a text is embedded once. An optional
 * capability: without it every write without an embedding is embedded again.
 */
export interface EmbeddingCache {
  /**
   * Cached embeddings by key; missing keys are absent.
   * @param options.refresh - marks the entries found as used at `usedAt` (Unix ms) where their mark is older
   *   than `staleBefore` (Unix ms), so an entry in use outlives {@link pruneCachedEmbeddings}. Core asks it only
   *   for entries it is about to use for writes (not for search queries), and with `staleBefore` half a TTL back,
   *   so an entry is rewritten at most twice per TTL. A store without expiry ignores it.
   */
  getCachedEmbeddings(
    keys: readonly string[],
    options?: { refresh?: { usedAt: number; staleBefore: number } },
  ): Promise<Map<string, number[]>>;
  /**
   * Stores embeddings in the cache (insert or replace), marked as used at `options.usedAt` (Unix ms; default the
   * store's clock).
   */
  putCachedEmbeddings(
    entries: readonly { key: string; embedding: readonly number[] }[],
    options?: { usedAt?: number },
  ): Promise<void>;
  /**
   * Deletes up to `limit` entries last used before `usedBefore` (Unix ms), oldest first; an entry marked used
   * again meanwhile stays. Without it the cache keeps every text ever embedded (one row per distinct text, for
   * good: 55,000 rows for 10,800 live records were measured after a day of edits).
   * @returns how many it deleted (fewer than `limit`: none left that old).
   * @throws {ValidationError} on `limit` outside 1..10,000.
   */
  pruneCachedEmbeddings?(usedBefore: number, limit: number): Promise<number>;
}

/** An embedding computed after its record was written, for the record at `version` (see `setEmbeddings`). */
export interface EmbeddingUpdate {
  id: string;
  version: number;
  embedding: readonly number[];
}

/**
 * The source of truth: records and the transactional outbox, plus optional capabilities — sync-2pc's intent
 * log ({@link IntentLogStore}/{@link IntentLogTx}) and its one-round-trip {@link TwoPhaseFastPath}, an
 * {@link EmbeddingCache}, the batch write fast path (`writeChanges`), operator gauges
 * (`listRecords`, `markSynced`, `maxPendingVersion`, `countRecords`), wake-ups (`subscribeOutbox`), and fast
 * paths of operations core otherwise derives from `transaction` (`enqueueRepairs`, `setEmbeddings`,
 * `getOutboxEntry`; see `relational-operations.ts`). Adapters implement
 * this contract and run the `relationalStoreSuite` from `@dualwrite/core/testing`.
 *
 * All times are Unix ms passed in by the caller (an injectable clock); stores never read the wall clock
 * for outbox decisions. Times and versions are whole numbers in 0..2^53-1: a store refuses any other with a
 * {@link ValidationError} naming the argument (`now`, `retryAt`, `leaseUntil`, `acks[0].appliedVersion`, …)
 * before it writes anything (`checkStoreTime` and `checkStoreVersion` do it), since a column may keep a fraction
 * no later read can take back (SQLite), round it (MySQL) or refuse it with an untyped error (PostgreSQL). The
 * embedding cache's use marks are the exception: a fraction of a ms is dropped there ({@link EmbeddingCache}).
 *
 * Store methods must not be called from inside a `transaction(fn)` callback (use the `tx` argument).
 *
 * Errors: {@link BackendUnavailableError} when the database cannot be reached, {@link TransientBackendError}
 * for lock timeouts (e.g. SQLITE_BUSY past the busy timeout), {@link ClosedError} after `close()`.
 */
export interface RelationalStore<Native = unknown>
  extends Partial<IntentLogStore>,
    Partial<EmbeddingCache>,
    Partial<TwoPhaseFastPath> {
  /** Short backend name, e.g. `'sqlite'`. */
  readonly name: string;

  /** Creates or migrates the schema. Idempotent; safe to call on every start. */
  init(): Promise<void>;

  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws (and rethrows). */
  transaction<T>(fn: (tx: RelationalTx<Native>) => Promise<T>): Promise<T>;

  /** Records by id (tombstones included only when `includeDeleted`). Missing ids are absent. */
  getRecords(
    ids: readonly string[],
    options?: { includeDeleted?: boolean },
  ): Promise<Map<string, StoredRecord>>;

  /** Optional: live records (no tombstones) ordered by id, after `after`, at most `limit` (1..10,000). */
  listRecords?(options: { after?: string; limit: number }): Promise<StoredRecord[]>;

  /** `(id, version, deleted)` ordered by id (binary/codepoint order), after `after`, at most `limit`. */
  listVersions(options: { after?: string; limit: number }): Promise<RecordVersion[]>;

  /**
   * Optional: number of live records (tombstones excluded). Core counts through `countLiveRecords`,
   * which walks `listVersions` without it.
   */
  countRecords?(): Promise<number>;

  /**
   * Optional fast path: stores embeddings computed after the writes, each only if its record is live and still
   * at its `version` (the version does not change), in as few round trips as the store can, never holding up
   * writes of one id while it waits for another's row. Returns, per update in order, `false` if that record
   * moved on or is gone. When it throws, some updates may have been stored (storing one again changes nothing).
   * Core calls `setEmbeddings` (`relational-operations.ts`), which rewrites the rows in a transaction without it.
   */
  setEmbeddings?(updates: readonly EmbeddingUpdate[]): Promise<boolean[]>;

  /** Optional: marks `version` as applied to the vector index if it is newer than the recorded one. */
  markSynced?(id: string, version: number): Promise<void>;

  /** Claims up to `limit` due pending entries (`nextAttemptAt <= now`, no unexpired lease), oldest first. */
  claimOutbox(options: ClaimOptions): Promise<OutboxLease[]>;

  /**
   * Acknowledges deliveries in one transaction, also recording `syncedVersion` on the record and purging a
   * tombstone whose delete was applied — unless a sync-2pc intent for the record exists (the tombstone is
   * the proof, for that writer's commit, that a newer delete happened). See {@link AckOutcome}.
   */
  ackOutbox(acks: readonly OutboxAck[], now: number): Promise<AckOutcome[]>;

  /**
   * Records a failed delivery: charges an attempt, then reschedules or dead-letters — unless something was
   * enqueued for the entry under the lease (core's `overtaken`): then nothing is charged and it reschedules.
   */
  failOutbox(failure: OutboxFailure): Promise<'retry' | 'dead' | 'lease-lost'>;

  /**
   * Extends leases still held (same token, entry pending) to `leaseUntil` (Unix ms). Returns the record
   * ids whose lease was extended; a lease that expired and was taken by another worker, or whose entry
   * was acknowledged or dead-lettered meanwhile, is not, and its holder must not deliver it.
   */
  renewOutbox(
    leases: readonly Pick<OutboxLease, 'recordId' | 'leaseToken'>[],
    leaseUntil: number,
  ): Promise<string[]>;

  /**
   * Gives leases back without charging an attempt (backend outage, shutdown); with `options.inDoubt` the entries
   * keep the mark of a write that may still land (see `OutboxFailure.inDoubt`).
   */
  releaseOutbox(
    leases: readonly Pick<OutboxLease, 'recordId' | 'leaseToken'>[],
    retryAt: number,
    options?: ReleaseOptions,
  ): Promise<void>;

  /**
   * Optional: gives back every lease `claimOutbox` took under one of `owners` (at most 1,000), without charging
   * an attempt and without moving the entries' next attempt. The drainer claims under an owner of its own per
   * claim and calls this once the store answers again after a claim failed: a claim whose reply was lost (a
   * connection dropped, a timeout) may have committed, and its entries would otherwise stay leased to a live
   * process that never saw them until the lease expired (10 s by default). Returns how many leases it gave
   * back. Not indexed: a scan of the outbox, for that rare case.
   * @throws {ValidationError} naming `owners` for more than 1,000.
   */
  releaseClaims?(owners: readonly string[]): Promise<number>;

  /**
   * Optional fast path: enqueues delivery of each id's current state (repair after reconciliation or
   * recovery). Ids whose record is missing enqueue a delete at a version at least the highest handed out.
   * Returns the number of distinct ids enqueued. Core calls `enqueueRepairs` (`relational-operations.ts`),
   * the generic rule over `transaction`, without it.
   */
  enqueueRepairs?(ids: readonly string[], now: number): Promise<number>;

  /**
   * Optional fast path: the outbox entry for `id`, pending or dead (`state` tells which), if any, read
   * without a write transaction. Core calls `readOutboxEntry`, which reads it in `transaction` without it.
   */
  getOutboxEntry?(id: string): Promise<OutboxEntry | undefined>;

  /** Dead letters ordered by record id, after `after`, at most `limit`. */
  listDeadLetters(options: { after?: string; limit: number }): Promise<OutboxEntry[]>;

  /** Moves dead letters (all, or only `ids`) back to pending with attempts reset. Returns how many. */
  requeueDeadLetters(ids: readonly string[] | undefined, now: number): Promise<number>;

  /** Outbox gauges as of `now`. */
  outboxStats(now: number): Promise<OutboxStats>;

  /**
   * Optional: highest outbox version not yet delivered, or `null` when no pending entries exist. A gauge
   * for operators; core does not use it (`flush` waits on `outboxStats().oldestPendingAt`).
   */
  maxPendingVersion?(): Promise<number | null>;

  /**
   * Optional: the settled live records — no outbox entry (nothing pending, leased or dead-lettered) and not a
   * tombstone — whose acknowledged versions (`syncedVersion`) are the highest, highest first, at most `limit`
   * (1..10,000). The index checks (at start and periodically) ask the index for these ids: an index holding one
   * of them below its acknowledged version, or not at all, lost writes it had taken — an older copy restored (by
   * a file copy or the index's own time travel), rows removed behind dualwrite's back — even after later writes
   * raised its highest version and restored its row count. Records with outbox work are left out: their index
   * row is in flux (a delete delivered, then the id written again and not yet delivered, or dead-lettered).
   * With `above`, only those whose acknowledged version is above it (a periodic check asks for everything
   * acknowledged since its previous one). With `order: 'lowest-first'`, the lowest `limit` of them instead, lowest
   * first: a check that finds more than it looks up at once pages upward through them, one check after another.
   * @throws {ValidationError} when `limit` is not an integer in 1..10,000, `above` not an integer ≥ 0, or
   *   `order` neither `'highest-first'` (the default) nor `'lowest-first'`.
   */
  recentlySynced?(limit: number, above?: number, order?: SyncedOrder): Promise<SyncedVersion[]>;

  /**
   * Highest version the sequence has handed out (0 when none). Compared with the index's highest version
   * to notice a source of truth that went back in time (restored from a backup).
   */
  currentVersion(): Promise<number>;

  /**
   * Optional: the source of truth's own clock now, Unix ms — the database server's, which every process of one
   * source shares. Leases, retry times and sync-2pc intent expiries are compared across processes, so they must
   * be read on one clock: the facade measures its process's offset from this one and corrects its own by it
   * (`SourceClock`), so a worker on a machine whose clock runs ahead does not take every lease another process
   * just took as expired. Without it the process's clock is used as it is.
   */
  sourceTime?(): Promise<number>;

  /** A value stored under `key` by {@link setMeta} (e.g. the index binding), or `undefined`. */
  getMeta(key: string): Promise<string | undefined>;

  /** Stores `value` under `key` (insert or replace); `null` removes the key. Keys are at most 200 characters. */
  setMeta(key: string, value: string | null): Promise<void>;

  /**
   * Optional: stores `value` under `key` unless the key holds a value already, and returns what it holds
   * afterwards — `value`, or the one another call stored first. Atomic: of concurrent calls, one value wins
   * and every call returns it (the index binding draws its owner token this way, so processes of one source
   * starting at once agree on it). Without it the binding falls back to `getMeta` + `setMeta`.
   */
  insertMeta?(key: string, value: string): Promise<string>;

  /**
   * Optional fast path of the transactional-outbox write: applies `changes` exactly as
   * `writeChangesWithOutbox` does inside `transaction` (ids in sorted order under their locks, each id's
   * changes in order, no-ops detected, one version drawn per written row, the record rows and their coalesced
   * outbox entries committed together) and returns the same results, in fewer round trips. Plan with core's
   * `planWrites` so the rules stay the ones of `planOne`. The async strategies use it when present.
   */
  writeChanges?(changes: readonly Change[], now: number): Promise<WriteResult[]>;

  /**
   * Optional: calls `listener` soon after any process enqueues an outbox entry (e.g. PostgreSQL
   * `LISTEN/NOTIFY`), so idle workers wake in milliseconds instead of waiting for their poll interval, saying
   * whether the write was this store's own ({@link OutboxWakeUp}). Resolves to an unsubscribe function. Stores
   * without it are polled.
   */
  subscribeOutbox?(listener: (wakeUp: OutboxWakeUp) => void): Promise<() => Promise<void>>;

  /**
   * Optional, with {@link subscribeOutbox}: what its subscriptions have seen, for `stats().wakeUps`. A store
   * may return more fields (PostgreSQL: the NOTIFY queue's usage, failed heartbeats); they are passed on.
   */
  listenerHealth?(): WakeUpHealth;

  /** Closes connections. Idempotent; further calls throw {@link ClosedError}. */
  close(): Promise<void>;
}

/** `true` when the store (and its transactions) have sync-2pc's intent log. */
export function hasIntentLog<S extends RelationalStore<unknown>>(store: S): store is S & IntentLogStore {
  return typeof store.listExpiredIntents === 'function';
}

/** `true` when the store caches embeddings. */
export function hasEmbeddingCache<S extends RelationalStore<unknown>>(store: S): store is S & EmbeddingCache {
  return typeof store.getCachedEmbeddings === 'function' && typeof store.putCachedEmbeddings === 'function';
}
