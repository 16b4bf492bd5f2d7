import { AsyncLocalStorage } from 'node:async_hooks';
import type { OutboxEntry, OutboxStats } from '../contracts/outbox.js';
import { readOutboxEntry } from '../contracts/relational-operations.js';
import { hasIntentLog, type RelationalStore, type WakeUpHealth } from '../contracts/relational-store.js';
import type { VectorStore } from '../contracts/vector-store.js';
import type { Change, StrategyContext, WriteResult, WriteStrategy } from '../contracts/write-strategy.js';
import { EmbeddingService } from '../embedders/embedding-service.js';
import { validateEmbedder } from '../embedders/validate-embedder.js';
import {
  BackpressureError,
  ClosedError,
  type ConflictError,
  DeadLetteredError,
  DimensionMismatchError,
  type IndexBindingError,
  TimeoutError,
  ValidationError,
} from '../errors.js';
import type { IndexDrift } from '../integrity/index-binding.js';
import { IndexGuard } from '../integrity/index-guard.js';
import { LateWriteWatch } from '../integrity/late-write-watch.js';
import { awaitDelivery } from '../outbox/await-delivery.js';
import { resolveDeliveryOptions } from '../outbox/delivery-options.js';
import { errorMessage } from '../outbox/failure-classification.js';
import { validateReconcileOptions } from '../reconcile/reconcile-options.js';
import { type ReconcileOptions, type ReconcileReport, reconcile } from '../reconcile/reconciler.js';
import { DEFAULT_LIMITS, type RecordLimits } from '../record/limits.js';
import type { RecordInput, StoredRecord } from '../record/types.js';
import {
  type ValidRecord,
  validateEmbedding,
  validateId,
  validateMetadata,
  validateRecord,
} from '../record/validate.js';
import { createStrategy } from '../strategies/strategy-registry.js';
import { optionsObject, timeoutOption } from '../util/call-options.js';
import { type Clock, systemClock, wholeMsClock } from '../util/clock.js';
import { beforeDeadline } from '../util/deadline.js';
import { describeValue } from '../util/describe-value.js';
import { EventLoopYield } from '../util/event-loop-yield.js';
import type { OptionKeys } from '../util/option-keys.js';
import { SourceClock } from '../util/source-clock.js';
import { lastOfEachId } from '../write/last-wins.js';
import { writeChangesWithOutbox } from '../write/plan-change.js';
import { BackpressureGate } from './backpressure-gate.js';
import type { BackpressureOptions, DualWriteOptions } from './dualwrite-options.js';
import { type DualwriteEventMap, DualwriteEvents } from './events.js';
import { createMetrics, type SyncMetrics } from './metrics.js';
import { matchesFilter, type SearchHit, type SearchOptions, type StaleHitPolicy } from './search.js';
import { ownRelationalStore } from './store-owners.js';
import type { SyncStatus } from './sync-status.js';
import { usableUntil } from './usable-until.js';
import { oneOf, STALE_HIT_POLICIES, validateDualWriteOptions } from './validate-options.js';

/** Gauges and counters from {@link DualWrite.stats}. Times in ms. */
export interface DualwriteStats extends SyncMetrics {
  strategy: string;
  relational: string;
  vector: string;
  /** Pending outbox entries (leased or not). */
  outboxDepth: number;
  /** Pending entries under a live lease (any process). */
  inFlight: number;
  /** Entries in dead letter. */
  deadLetters: number;
  /** Age of the oldest pending entry, ms (0 when the outbox is empty). */
  oldestPendingAgeMs: number;
  /** Delivery is not running: paused by `pause()`, held while the index is unverified, or stopped (see {@link DualwriteStats.deliveryStopped}). */
  paused: boolean;
  /**
   * Why delivery is stopped for good in this process — a check found the source bound to another index,
   * embedder or source of truth than this process is configured with (the `IndexBindingError` message; restart
   * the process with the right configuration) — or held: its index, the bound one's identity reached at another
   * place, misses a checkpoint the source stamped on the bound index (a copy of it, or the bound index went back
   * in time; field `checkpoint`), until a check finds it holding one. `null` otherwise.
   */
  deliveryStopped: string | null;
  /** Delivery paused because the vector store (or the embedder) is unreachable. */
  backendDown: boolean;
  /** What is unreachable while {@link DualwriteStats.backendDown}: `'vector'` or `'embedder'`; `null` otherwise. */
  downBackend: 'vector' | 'embedder' | null;
  /** A detected drift between the index and the source of truth still being repaired, or `null`. */
  indexDrift: IndexDrift | null;
  /** `false` in a writer-only process (`deliver: false`): workers deliver its writes. */
  delivering: boolean;
  /**
   * The store's push wake-ups ({@link RelationalStore.listenerHealth}, with `lastNotificationAgeMs`: ms since
   * the last one, or `null`), or `null` for a store without them (it is polled). A store may add fields.
   */
  wakeUps: (WakeUpHealth & { lastNotificationAgeMs: number | null }) | null;
  /**
   * What this process adds to its own clock to read the source of truth's, ms (positive: this machine's clock is
   * behind the database server's), measured at the start, every minute and as soon as this machine's clock is seen
   * stepped (`RelationalStore.sourceTime`; `clock-offset` events say when it changed). An offset within 100 ms, or
   * within half the reading's round trip (its error), is taken as 0. `null` before a measurement came back, for a
   * store without a clock of its own (SQLite: one machine, one clock), and for a facade given its own `clock`.
   */
  clockOffsetMs: number | null;
}

/** A dead-lettered change, as {@link DualWrite.listDeadLetters} lists it. */
export type DeadLetter = OutboxEntry & {
  /** The record's id (the same as `recordId`). */
  id: string;
};

/** How often a process measures its clock against the source's again, ms (clocks drift, and get stepped). */
export const SOURCE_CLOCK_CHECK_MS = 60_000;

/** Most rows one vector-store query returns (`VectorQueryOptions.k`'s limit). */
const MAX_QUERY_K = 1_000;

/**
 * Fields of an {@link IndexBindingError} that say the index this source fed is lost to it: another source's owner
 * token on it, or a replacement holding another application's rows, or of another dimension or distance.
 * (`embedder`, `collection`, … say this process is configured otherwise than the source: the bound index is fine.)
 */
const INDEX_LOST_FIELDS: readonly string[] = ['owner', 'rows', 'dimension', 'distance'];

/** Result of {@link DualWrite.flush}. */
export interface FlushReport {
  /** Pending entries left (written after the flush began). */
  pending: number;
  /** Entries in dead letter: accepted writes that will not become visible until requeued. */
  deadLetters: number;
  /**
   * A drift between the index and the source of truth recorded after the flush's last look, or `null`. A
   * drift recorded when the flush looks (found here or by another process) is repaired by the flush itself,
   * and the writes the repair enqueues again are waited for, so this is `null` unless a check found a new one
   * in the last moment.
   */
  indexDrift: IndexDrift | null;
  /** Wall time, ms. */
  durationMs: number;
}

/** Options of {@link DualWrite.flush} and {@link DualWrite.awaitSynced}. */
export interface WaitOptions {
  /** How long to wait, ms (finite, >= 0; 0 answers at once). Default 30,000. */
  timeoutMs?: number;
}

/** Options of {@link DualWrite.close}. */
export interface CloseOptions extends WaitOptions {
  /**
   * Wait for what is pending to be delivered before closing (within `timeoutMs`). Default `true` in a process
   * that delivers, `false` in a writer-only one (`deliver: false`) and in one whose delivery is paused
   * (`pause()`): only other processes' workers deliver their writes, so `true` there waits for them (a paused
   * process's own workers stay paused).
   */
  drain?: boolean;
}

/** Options of {@link DualWrite.listDeadLetters}. */
export interface DeadLetterListOptions {
  /** Id to page after (the last id of the previous page). */
  after?: string;
  /** Entries per page. Default 100. */
  limit?: number;
}

const WAIT_KEYS: OptionKeys<WaitOptions> = { timeoutMs: true };
const CLOSE_KEYS: OptionKeys<CloseOptions> = { timeoutMs: true, drain: true };
const DEAD_LETTER_LIST_KEYS: OptionKeys<DeadLetterListOptions> = { after: true, limit: true };
const SEARCH_KEYS: OptionKeys<SearchOptions> = { k: true, filter: true, staleHits: true };

/** Result of {@link DualWrite.close}. */
export interface CloseReport {
  /**
   * `true` when every write accepted before `close()` began was delivered (or dead-lettered) before closing.
   * Writes other processes sharing the outbox made after that may still be pending: see `remaining`.
   */
  drained: boolean;
  /**
   * Pending entries left in the outbox (of any process sharing it); they are delivered after the next start.
   * `null` when the outbox could not be read at close (the source of truth was unreachable: see
   * {@link CloseReport.error}).
   */
  remaining: number | null;
  /** Entries in dead letter; `null` when the outbox could not be read at close. */
  deadLetters: number | null;
  /**
   * The first error met while closing (the source of truth unreachable while draining or counting what is
   * left, a store failing to close), or absent. `close()` reports it here instead of rejecting: the stores are
   * closed whatever happened, and nothing accepted is lost — it is in the outbox.
   */
  error?: Error;
}

/** Handle given to a {@link DualWrite.transaction} callback. */
export interface UnitOfWork<Native> {
  /**
   * The backend transaction (for SQL stores, a Kysely instance bound to it) for app-owned tables. Usable only
   * inside the callback: any use after it returned throws a {@link ValidationError} on field `uow.db`.
   */
  readonly db: Native;
  /**
   * Writes a record and its outbox entry in this transaction.
   * @throws {ValidationError} (rejects) for an invalid record, as `dw.put` does; on field `uow` once the
   *   `transaction()` callback has returned (the transaction is over).
   */
  put(record: RecordInput): Promise<WriteResult>;
  /**
   * Writes a tombstone and its outbox entry in this transaction.
   * @throws {ValidationError} (rejects) for an invalid id; on field `uow` once the callback has returned.
   */
  delete(id: string): Promise<WriteResult>;
}

/** The facade whose `transaction()` callback the current async context runs in, while that callback runs. */
const insideTransaction = new AsyncLocalStorage<{ facade: object; running: boolean }>();

/**
 * The facade applications use: one object over a relational store (source of truth), a vector store
 * (derived index), a write strategy and an optional embedder. Create it with {@link createDualWrite}.
 */
export class DualWrite<Native = unknown> {
  /**
   * Observability stream: `synced`, `retried`, `dead-lettered`, `backend-down`, `backend-up`, `drain-error`,
   * `index-drift`, `index-repaired`, `version-regression`, `late-writes-repaired`, `clock-offset` (see
   * `DualwriteEventMap`). What the checks at start find is emitted after `createDualWrite` resolved, so listeners
   * attached right after it see it.
   */
  readonly events = new DualwriteEvents();
  readonly relational: RelationalStore<Native>;
  readonly vector: VectorStore;
  readonly strategy: WriteStrategy;
  /** Time for all that other processes compare: {@link sourceClock} where the store has a clock, else the local one. */
  private readonly clock: Clock;
  /** This process's clock, uncorrected: for times only this process compares (its listener's last notification). */
  private readonly localClock: Clock;
  /** The local clock corrected to the source of truth's (unless a clock was injected, or the store has none). */
  private readonly sourceClock: SourceClock | undefined;
  private sourceClockTimer: NodeJS.Timeout | undefined;
  /** A `clock-offset` found while the facade opens: emitted once it is open, for listeners attached after it. */
  private startClockOffset: DualwriteEventMap['clock-offset'] | undefined;
  private readonly limits: RecordLimits;
  private readonly metrics = createMetrics();
  private readonly embeddings: EmbeddingService | undefined;
  private readonly gate: BackpressureGate;
  private readonly staleHits: StaleHitPolicy;
  private readonly closeStores: boolean;
  /** Gives this facade's relational store back to other facades ({@link ownRelationalStore}); set by {@link open}. */
  private releaseStores: () => void = () => {};
  private readonly context: StrategyContext;
  private readonly guard: IndexGuard;
  /** Present on a vector store without a version fence (see {@link LateWriteWatch}). */
  private readonly lateWrites: LateWriteWatch | undefined;
  private readonly yielder: EventLoopYield;
  private state: 'new' | 'open' | 'closing' | 'closed' = 'new';
  private userPaused = false;
  private readonly deliver: boolean;
  private activeWrites = new Set<Promise<unknown>>();
  private closeReport: Promise<CloseReport> | null = null;
  /**
   * Set when a periodic check found the source bound to another index, embedder or source of truth than this
   * process is configured with: delivery is stopped, and sync-2pc writes are refused with it.
   */
  private misbound: IndexBindingError | null = null;
  /** When {@link misbound} was set, Unix ms. */
  private misboundAt = 0;

  /** Use {@link createDualWrite}, which also initialises the stores and starts the strategy. */
  constructor(options: DualWriteOptions<Native>) {
    validateDualWriteOptions(options);
    this.relational = options.relational;
    this.vector = options.vector;
    this.strategy = createStrategy(options.strategy);
    this.localClock = options.clock ? wholeMsClock(options.clock) : systemClock;
    const { relational } = options;
    // Leases, retry times and intent expiries are compared across processes: read on the database's clock.
    this.sourceClock =
      options.clock === undefined && relational.sourceTime
        ? new SourceClock(systemClock, () => relational.sourceTime!(), {
            onStep: (before) => void this.measureSourceClock(before),
          })
        : undefined;
    this.clock = this.sourceClock ?? this.localClock;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.gate = new BackpressureGate(
      options.backpressure,
      this.relational,
      this.clock,
      (ms) => this.strategy.waitForProgress(ms),
      this.strategy.name,
    );
    this.staleHits = options.staleHits ?? 'drop';
    this.closeStores = options.closeStores ?? true;
    if (options.embedder) validateEmbedder(options.embedder);
    if (options.embedder && options.embedder.dimension !== options.vector.dimension)
      throw new DimensionMismatchError(
        'embedder.dimension',
        options.vector.dimension,
        options.embedder.dimension,
      );
    this.embeddings = options.embedder
      ? new EmbeddingService(options.embedder, options.relational as RelationalStore, this.metrics, {
          ...(options.embeddingCacheTtlMs !== undefined && { cacheTtlMs: options.embeddingCacheTtlMs }),
          clock: this.clock,
        })
      : undefined;
    this.lateWrites =
      options.vector.versionFence === true
        ? undefined
        : new LateWriteWatch({
            relational: options.relational as RelationalStore,
            vector: options.vector,
            clock: this.clock,
            repaired: (ids) => {
              this.metrics.lateWritesRepaired += ids.length;
              this.events.emit('late-writes-repaired', { ids: [...ids] });
              this.strategy.afterCommit([]);
            },
            failed: (error) =>
              this.events.emit('drain-error', { error: `late-write check: ${errorMessage(error)}` }),
          });
    this.context = {
      relational: options.relational as RelationalStore,
      vector: options.vector,
      embeddings: this.embeddings,
      assertEmbedderBound: () => this.guard.assertEmbedderBound(),
      assertBound: () => this.guard.assertBound(),
      indexMisbound: (error) => this.guard.misboundBy(error),
      indexRewound: (reason) => this.guard.rewound(reason),
      writesInDoubt: this.lateWrites && ((ids) => this.lateWrites!.suspect(ids)),
      clock: this.clock,
      events: this.events,
      metrics: this.metrics,
      delivery: resolveDeliveryOptions(options.delivery),
    };
    this.yielder = new EventLoopYield(options.yieldEveryMs ?? 2);
    this.deliver = options.deliver ?? true;
    this.guard = new IndexGuard(
      {
        relational: options.relational as RelationalStore,
        vector: options.vector,
        clock: this.clock,
        events: this.events,
        embedderId: options.embedder?.id ?? null,
        afterRepair: () => this.strategy.afterCommit([]),
        onMisbound: (error) => {
          this.misbound = error;
          this.misboundAt = this.clock.now();
          this.strategy.pause();
          this.events.emit('drain-error', { error: `delivery stopped: ${error.message}` });
        },
        onHeld: (error) => {
          this.strategy.pause();
          this.events.emit('drain-error', { error: `delivery held: ${error.message}` });
        },
        onVerified: () => {
          if (!this.userPaused && this.deliver && !this.misbound) this.strategy.resume();
        },
      },
      {
        binding: options.indexBinding ?? 'verify',
        driftCheck: options.driftCheck ?? {},
        repairs: this.deliver || options.driftCheck !== false,
        // sync-2pc writes the index in the call, also in a writer-only process: that process must own (stamp and
        // bind) the index it writes, or another source could claim it and repair its rows away (helper-58).
        writesIndex: this.deliver || this.deliversInCall,
      },
    );
  }

  /**
   * Initialises the relational schema, binds (or verifies) the vector index, and starts the strategy
   * (recovering abandoned work) and the drift checks.
   * @throws {IndexBindingError} when the source of truth is bound to another index or embedder.
   */
  async open(): Promise<this> {
    if (this.state !== 'new') return this;
    this.releaseStores = ownRelationalStore(this.relational, this.closeStores);
    let started = false;
    try {
      await this.relational.init();
      await this.measureSourceClock(0);
      await this.guard.open();
      started = true;
      // An index that could not be checked yet gets nothing delivered until it is (it may be the wrong one);
      // a writer-only process delivers nothing at all: paused before the start, so not one claim is made.
      if (this.guard.unverified || !this.deliver) this.strategy.pause();
      await this.strategy.start(this.context);
    } catch (error) {
      // Nothing is left running, and stores the facade was to own are closed: a refused start (a binding
      // error, a database down) must not keep the process alive on a pool or a listener it never hands out.
      if (started) await this.strategy.stop({ timeoutMs: 1_000 }).catch(() => {});
      await this.embeddings?.stop();
      this.stopSourceClock();
      await this.guard.stop().catch(() => {});
      await this.lateWrites?.stop();
      this.state = 'closed';
      this.releaseStores();
      if (this.closeStores) {
        await this.vector.close().catch(() => {});
        await this.relational.close().catch(() => {});
      }
      throw error;
    }
    this.guard.start();
    if (this.sourceClock)
      this.sourceClockTimer = setInterval(
        () => void this.measureSourceClock(this.sourceClock!.offsetMs),
        SOURCE_CLOCK_CHECK_MS,
      ).unref();
    this.state = 'open';
    // After `createDualWrite` resolved, so a listener attached right after it sees it (the rest of the start's
    // I/O would have run an earlier `setImmediate` before then).
    const startOffset = this.startClockOffset;
    this.startClockOffset = undefined;
    if (startOffset) setImmediate(() => this.events.emit('clock-offset', startOffset));
    return this;
  }

  /**
   * Measures this process's clock against the source's again ({@link SourceClock}) and emits `clock-offset` when
   * the offset applied is not `previousMs` any more (the one before a step the clock took back out itself, or before
   * this measurement) — during the start, once the facade is open (see {@link startClockOffset}). A failed reading
   * keeps the offset: the store's own errors surface on its next call.
   */
  private async measureSourceClock(previousMs: number): Promise<void> {
    const clock = this.sourceClock;
    if (!clock) return;
    const reading = await clock.measure().catch(() => undefined);
    if (reading === undefined || clock.offsetMs === previousMs) return;
    const event = { offsetMs: clock.offsetMs, previousMs, roundTripMs: reading.roundTripMs };
    if (this.state === 'new') this.startClockOffset = event;
    else this.events.emit('clock-offset', event);
  }

  private stopSourceClock(): void {
    clearInterval(this.sourceClockTimer);
    this.sourceClockTimer = undefined;
  }

  /** Name of the active strategy. */
  get strategyName(): string {
    return this.strategy.name;
  }

  /**
   * Writes one record — its whole new state: text, metadata and embedding (metadata not passed is gone).
   * Returns its new version (`changed: false` when the content was unchanged). Should the index's version
   * fence refuse that version later (the index holds a newer one, from before the source was restored from a
   * backup), the record is rewritten at a fresh, higher version: `get` then shows the version it ends at.
   * @throws {ValidationError} / {@link DimensionMismatchError} naming the field (`record.metadata.x`);
   *   nothing is written.
   * @throws {BackpressureError} when the outbox is deeper than `backpressure.maxDepth`.
   * @throws {ClosedError} after `close()` began.
   * @throws (sync-2pc) the vector store's typed error; neither store keeps a half-write.
   * @throws (sync-2pc) {@link ConflictError} (retryable) when the call outlived its intent
   *   (`delivery.intentTtlMs`) and recovery rolled it back before its commit: nothing of it is committed.
   * @throws (sync-2pc) {@link IndexBindingError} once a periodic check found the source rebound to another
   *   index or embedder, or the index taken over by another source (this process's delivery is stopped too).
   */
  async put(record: RecordInput): Promise<WriteResult> {
    this.refuseInsideTransaction('put');
    return (await this.putRecords([record], () => 'record'))[0]!;
  }

  /**
   * Writes records in one SQL transaction (all or none). Duplicate ids: the last one wins — only it is written,
   * under every strategy, and every occurrence of the id reports its result. Results come back in input order;
   * the versions are drawn in sorted id order, not in input order (so concurrent calls over the same ids lock
   * them in one order and cannot deadlock) — compare versions per id only.
   * @throws {ValidationError} naming `records[i].field` for the first bad record; nothing is written.
   */
  async putMany(records: readonly RecordInput[]): Promise<WriteResult[]> {
    this.refuseInsideTransaction('putMany');
    if (!Array.isArray(records)) throw new ValidationError('records', 'must be an array');
    if (records.length > this.limits.maxBatchRecords)
      throw new ValidationError('records', `has ${records.length} records`, {
        limit: `<= ${this.limits.maxBatchRecords} records`,
      });
    return this.putRecords(records, (i) => `records[${i}]`);
  }

  /**
   * Validates every record (errors name `field(i)`), then writes them in one call. `Array.from` visits the holes
   * of a sparse array (`map` skips them, and a hole would reach the strategy unvalidated).
   */
  private putRecords(records: readonly RecordInput[], field: (i: number) => string): Promise<WriteResult[]> {
    const changes = Array.from(
      records,
      (r, i): Change => ({ op: 'put', record: this.validatePut(r, field(i)) }),
    );
    return this.write(changes);
  }

  /** Deletes a record (a tombstone until the index applied it). Deleting an absent id is a no-op. */
  async delete(id: string): Promise<WriteResult> {
    this.refuseInsideTransaction('delete');
    return (await this.write([{ op: 'delete', id: validateId(id, 'id', this.limits) }]))[0]!;
  }

  /**
   * Deletes records in one SQL transaction. An id listed twice is deleted once; both occurrences report it.
   * @throws {ValidationError} when `ids` is not an array, holds more than `limits.maxBatchRecords` ids, or an
   *   invalid id (naming `ids[i]`); nothing is deleted.
   */
  async deleteMany(ids: readonly string[]): Promise<WriteResult[]> {
    this.refuseInsideTransaction('deleteMany');
    if (!Array.isArray(ids)) throw new ValidationError('ids', 'must be an array');
    if (ids.length > this.limits.maxBatchRecords)
      throw new ValidationError('ids', `has ${ids.length} ids`, {
        limit: `<= ${this.limits.maxBatchRecords} ids`,
      });
    const changes = Array.from(
      ids,
      (id, i): Change => ({ op: 'delete', id: validateId(id, `ids[${i}]`, this.limits) }),
    );
    return this.write(changes);
  }

  /** The live record, or `undefined` (also for a deleted one). */
  async get(id: string): Promise<StoredRecord | undefined> {
    this.refuseInsideTransaction('get');
    this.assertOpen();
    return (await this.relational.getRecords([validateId(id, 'id', this.limits)])).get(id);
  }

  /**
   * Runs `fn` in one SQL transaction with a {@link UnitOfWork}: the application writes its own tables
   * through `uow.db` and records through `uow.put` / `uow.delete`; records, outbox entries and app rows
   * commit together (transactional outbox). After commit, async strategies deliver in the background.
   * Under sync-2pc this resolves only once the committed records are delivered: it is "commit, then
   * deliver synchronously" (the application's rows cannot wait on a network call inside the SQL
   * transaction), so a vector-store failure surfaces as a {@link TimeoutError} after
   * `unitOfWorkTimeoutMs` with the write committed and still queued — never lost — and a record the index
   * refused (dead-lettered, e.g. an embedding it cannot search) as a {@link DeadLetteredError} naming it (also
   * committed; its `result` is what the callback returned); embeddings of records put without one are
   * computed by the drain worker.
   * @throws {BackpressureError} when the outbox is at `backpressure.maxDepth` as the call begins (`'wait'` mode
   *   waits first), or at a `uow.put` / `uow.delete` (thrown there at once, writing nothing: a wait would hold the
   *   transaction's locks), once the process's other writes take it there.
   * @throws the error of a `uow.put` / `uow.delete` that failed in the store (a lock wait timeout, a dropped
   *   connection), even when the callback caught it or never awaited it: the transaction is rolled back, since
   *   that write may have stored its record without its outbox entry. Retryable when that error is. A
   *   {@link ValidationError} of a uow write, raised before it touched the store, does not roll back.
   * @throws {ClosedError} (sync-2pc) when `close()` began while the call waited for its committed records to
   *   sync: they are committed and stay queued (the message says so; the callback must not run again).
   * @throws {TimeoutError} (sync-2pc) with `retryable: false` when its committed records did not reach the index
   *   within `unitOfWorkTimeoutMs` (the vector store down, another writer's write of an id in flight, or an
   *   abandoned one until its intent expires): they are committed and stay queued; the callback must not run
   *   again (a retry would write its application rows twice).
   */
  async transaction<T>(fn: (uow: UnitOfWork<Native>) => Promise<T>): Promise<T> {
    this.refuseInsideTransaction('transaction');
    if (typeof fn !== 'function') throw new ValidationError('fn', `is ${typeof fn}`, { limit: 'a function' });
    return this.track(async () => {
      const admission = await this.gate.admit(1);
      const changed: string[] = [];
      const unchanged: string[] = [];
      const now = this.clock.now();
      const committed = this.relational.transaction(async (tx) => {
        // Writes the callback started and has not seen settle (one it forgot to await).
        const inFlight = new Set<Promise<unknown>>();
        let ended = false;
        // The first uow write that failed in the store: it may have written its record row and not its outbox
        // entry (MySQL and SQLite undo only the failed statement), so the transaction must not commit.
        let failedWrite: { error: unknown } | undefined;
        const write = (method: 'put' | 'delete', change: () => Change) =>
          runningIn(
            inFlight,
            (async () => {
              if (ended)
                throw new ValidationError(
                  'uow',
                  `uow.${method}() was called after its transaction() callback returned: the transaction is over (call and await it inside the callback, or use dw.${method}())`,
                );
              const valid = change(); // a ValidationError here writes nothing: the transaction can go on
              admission.extend(1); // so does a BackpressureError
              try {
                const [r] = await writeChangesWithOutbox(tx, [valid], now);
                (r!.changed ? changed : unchanged).push(r!.id);
                return r!;
              } catch (error) {
                failedWrite ??= { error };
                throw error;
              }
            })(),
          );
        const uow: UnitOfWork<Native> = {
          db: usableUntil(
            tx.native,
            () => ended,
            'uow.db',
            'was used after its transaction() callback returned: the transaction is over (run queries on it inside the callback)',
          ),
          put: (input) => write('put', () => ({ op: 'put', record: this.validatePut(input, 'record') })),
          delete: (id) => write('delete', () => ({ op: 'delete', id: validateId(id, 'id', this.limits) })),
        };
        const scope = { facade: this, running: true };
        let result: T;
        try {
          result = await insideTransaction.run(scope, () => fn(uow));
        } finally {
          // A write the callback did not await finishes inside the transaction before it commits or rolls back:
          // otherwise its record row could commit without its outbox entry, or fail half-way after the commit.
          while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
          ended = true;
          scope.running = false; // a timer the callback left behind may call the facade later
        }
        // A callback that caught a failed uow write (or never awaited it) still gets no commit: the record and its
        // outbox entry commit together or not at all (helper-55: MariaDB committed the row of a put whose outbox
        // insert hit a lock wait timeout, and the index stayed stale).
        if (failedWrite) throw failedWrite.error;
        return result;
      });
      // Delivered in the call under sync-2pc (`afterCommit` waits for it); pending otherwise.
      const pending = () => (this.deliversInCall ? 0 : changed.length);
      committed.then(
        () => admission.done(pending()),
        () => admission.done(0),
      );
      const result = await committed;
      // A dead-lettered record written again unchanged is requeued, as by dw.put.
      const retried = unchanged.filter((id) => !changed.includes(id));
      if (await this.requeueDeadLettered(retried)) changed.push(...retried);
      if (changed.length > 0)
        await this.strategy.afterCommit(changed).catch((error: unknown) => {
          // Committed: the caller that handles the dead letters still gets what its callback returned.
          if (error instanceof DeadLetteredError) throw error.withResult(result);
          // Committed, not yet confirmed in the index (another writer's write of an id in flight, or abandoned
          // until its intent expires): not retryable — running the callback again writes its rows twice.
          if (error instanceof TimeoutError)
            throw new TimeoutError(
              `sync-2pc delivery of transaction()'s ${changed.length} committed record(s) (they are committed ` +
                'and stay queued: they reach the index once what holds them up lands — another writer’s write ' +
                'in flight, or an abandoned one once its intent expires — or a worker delivers them; do not run ' +
                'the callback again)',
              error.timeoutMs,
              { cause: error, retryable: false },
            );
          // close() stopped the wait (and closed the store it reads): say the records committed, not only that
          // a store is closed — retrying the callback would write the application's rows twice.
          if (this.state !== 'open')
            throw new ClosedError(
              `dualwrite (close() began while transaction() waited for its ${changed.length} committed ` +
                'record(s) to sync: they are committed and stay queued for the next start; do not run the ' +
                'callback again)',
              { cause: error },
            );
          throw error;
        });
      return result;
    });
  }

  /**
   * Nearest records to an embedding or a text (text needs an embedder). Reads the index, answers from the
   * source of truth: ghosts (deleted or unknown records) are dropped; hits whose vector version differs
   * from the record's are dropped or flagged per `staleHits`.
   * @param options.k - results wanted, 1..1000, default 10. Fewer come back only when the index holds no more
   *   live matches among its 1,000 nearest rows (rows of deleted records and dropped stale rows are skipped, and
   *   more are fetched to replace them).
   * @throws {ValidationError} for a bad `k`, filter (not a plain object of flat values), `staleHits` or query
   *   (one the index says it could never match: `VectorStore.embeddingProblem`), or an option `search` does not
   *   take (`filters`: the filter would be dropped); {@link DimensionMismatchError} for a wrong length;
   *   {@link IndexBindingError} once this process found the source bound to another index or embedder (its
   *   delivery stopped): it would search an index the source no longer feeds, or embed the query with a model
   *   the index's vectors are not of (a break-it round: misbound processes answered from an empty table, and
   *   with another model's ranking, without an error).
   */
  async search(query: readonly number[] | string, searchOptions?: SearchOptions): Promise<SearchHit[]> {
    this.refuseInsideTransaction('search');
    this.assertOpen();
    if (this.misbound) throw this.misbound;
    const options = optionsObject(searchOptions, SEARCH_KEYS);
    const k = options.k ?? 10;
    if (!Number.isInteger(k) || k < 1 || k > 1000)
      throw new ValidationError('k', `must be an integer in 1..1000, got ${describeValue(k)}`, {
        limit: '1..1000',
      });
    const filter = options.filter === undefined ? undefined : validateMetadata(options.filter, 'filter');
    oneOf(options.staleHits, 'options.staleHits', STALE_HIT_POLICIES);
    let embedding: number[];
    if (typeof query === 'string') {
      if (!this.embeddings)
        throw new ValidationError('text', 'text search needs an embedder; pass an embedding');
      [embedding] = (await this.embeddings.embed([query], { persist: false })) as [number[]];
    } else {
      embedding = validateEmbedding(query, this.vector.dimension, 'embedding');
      this.refuseUnsearchable(embedding, 'embedding');
    }
    const policy = options.staleHits ?? this.staleHits;
    // Over-fetch, since ghosts (rows of deleted or unknown records) and dropped stale rows are skipped; when
    // too many were skipped to fill `k` and the index may hold more, ask again for more (up to the 1,000 a
    // vector store answers at once).
    for (let fetch = Math.min(MAX_QUERY_K, k * 2 + 10); ; fetch = Math.min(MAX_QUERY_K, fetch * 4)) {
      const hits = await this.vector.query(embedding, { k: fetch, filter });
      const records = await this.relational.getRecords(hits.map((h) => h.id));
      const out: SearchHit[] = [];
      const seen = new Set<string>();
      for (const hit of hits) {
        const rec = records.get(hit.id);
        // one hit per id, the closest: an index that ended up with two rows of an id must not show it twice
        if (!rec || seen.has(hit.id) || !matchesFilter(rec.metadata, filter)) continue;
        const stale = rec.version !== hit.version;
        if (stale && policy === 'drop') continue;
        seen.add(hit.id);
        out.push({
          id: hit.id,
          score: hit.score,
          distance: hit.distance,
          version: rec.version,
          indexedVersion: hit.version,
          stale,
          text: rec.text,
          metadata: rec.metadata,
        });
        if (out.length === k) return out;
      }
      if (hits.length < fetch || fetch === MAX_QUERY_K) return out; // the index has no more to give
    }
  }

  /**
   * Resolves when every write accepted before the call is visible in the vector index (or dead-lettered).
   * Calls of this facade still in flight (an application transaction, a sync-2pc write) are waited for within
   * the same `timeoutMs`. So is the index itself, as far as the checks have seen it: while it could not be
   * checked yet (unreachable at start) the flush waits for the check, a check or repair running is waited for, a
   * recorded drift (a replaced, emptied or restored index) is repaired, and the writes a repair of any process
   * enqueued again are delivered before it resolves. A table or collection dropped or replaced under this
   * process is seen by the flush itself: by the deliveries it waits for (`VectorStore.takeRewind`), or, when
   * nothing is pending, by one read of the index's identity (about 0.2–0.7 ms on a local LanceDB) — its repair
   * is then waited for too. Other changes made behind dualwrite's back since the last check (at start, then
   * every `driftCheck.intervalMs`: rows removed, rewound or edited in place) are found by the next one — call
   * {@link checkIndex} first to look now. `close()`'s drain waits for the outbox only.
   * @param options.timeoutMs - default 30,000 ms.
   * @throws {TimeoutError} when writes are still pending (or calls still in flight, or the index is still
   *   unchecked or not repaired) after `timeoutMs`; they stay in the outbox.
   * @throws {IndexBindingError} (field `owner`) when this process stopped delivering because another source of
   *   truth took the index over: no wait makes it this source's again.
   * @throws {ValidationError} for a `timeoutMs` that is not a finite number >= 0, options that are not an
   *   object, or an option `flush` does not take (`timeout`).
   */
  async flush(options?: WaitOptions): Promise<FlushReport> {
    this.refuseInsideTransaction('flush');
    if (this.state === 'closed') throw new ClosedError('dualwrite');
    const timeoutMs = timeoutOption(optionsObject(options, WAIT_KEYS).timeoutMs, 'options.timeoutMs', 30_000);
    return this.waitDelivered(timeoutMs, true);
  }

  /**
   * {@link flush} after its checks; `answerForIndex: false` (close's drain) waits for the outbox only: the index's
   * check and repair are the next start's job (a drift stays recorded in the source of truth).
   */
  private async waitDelivered(timeoutMs: number, answerForIndex: boolean): Promise<FlushReport> {
    const started = this.clock.now();
    const deadline = started + timeoutMs;
    // Writes still in flight, and a repair running here, enqueue their entries now: they count as accepted
    // before this flush. Waiting for them counts against the timeout (an application transaction left open
    // must not make a flush, or a close, wait without bound).
    await beforeDeadline(
      this.clock,
      Promise.allSettled([...this.activeWrites]).then(() => this.guard.settled()),
      deadline,
      `flush (${this.activeWrites.size} call(s) still in flight)`,
      timeoutMs,
    );
    const called = this.clock.now();
    this.strategy.requestFlush(true);
    // Whether this flush read the index's identity, or waited for deliveries (which touch the index, and see a
    // table or collection dropped or replaced under them: `VectorStore.takeRewind`).
    let looked = !answerForIndex;
    try {
      for (;;) {
        // An index in question (unchecked, being checked, replaced, emptied, restored) lacks the writes a repair
        // enqueues again: they were accepted before this call, so they are waited for too.
        const doubt = answerForIndex ? await this.indexDoubt(deadline, timeoutMs) : undefined;
        // Entries a repair (of any process) enqueued stand for writes accepted before it ended.
        const since = Math.max(called, await this.guard.lastRepairAt());
        const s = await this.relational.outboxStats(this.clock.now());
        // A failed write this process has yet to take back in the source leaves the index holding it till then.
        const unresolved = this.strategy.unresolvedWrites?.() ?? 0;
        const delivered =
          doubt === undefined &&
          unresolved === 0 &&
          (s.oldestPendingAt === null || s.oldestPendingAt > since);
        if (delivered && !looked) {
          // Nothing to deliver: an index dropped or replaced while nothing was written to it is seen only by
          // reading it (a repair that starts is waited for by the next look). Unreachable: nothing to wait for.
          looked = true;
          await beforeDeadline(
            this.clock,
            this.guard.glance().catch(() => {}),
            deadline,
            "flush (reading the index's identity)",
            timeoutMs,
          );
          continue;
        }
        looked = true;
        if (delivered)
          return {
            pending: s.depth,
            deadLetters: s.deadLetters,
            indexDrift: await this.currentDrift(),
            durationMs: this.clock.now() - started,
          };
        const left = deadline - this.clock.now();
        if (left <= 0)
          throw new TimeoutError(
            `flush (${doubt ?? `${s.depth} pending`}${unresolved > 0 ? `, ${unresolved} failed sync-2pc write(s) to roll back once the source answers` : ''}${this.whyNotDelivering()})`,
            timeoutMs,
          );
        await this.strategy.waitForProgress(Math.min(left, 50));
      }
    } finally {
      this.strategy.requestFlush(false);
    }
  }

  /**
   * The drift the index stands in: it is no longer one this source can deliver to (delivery stopped on an
   * {@link IndexBindingError}: another source of truth took it over, or it was replaced by a collection holding
   * another application's rows or of another dimension or distance — this source's records are not there, and
   * nothing here repairs them), else the one recorded, or `null`.
   */
  private async currentDrift(): Promise<IndexDrift | null> {
    const lost = this.indexLost();
    return lost ? { reason: lost.message, since: this.misboundAt } : this.guard.drift();
  }

  /**
   * The {@link IndexBindingError} delivery stopped on when the index this source feeds is lost to it (see
   * {@link INDEX_LOST_FIELDS}), or `null`. Before, only a takeover counted: after a collection was replaced by one
   * of another dimension, `flush()` resolved clean and `syncStatus` read synced over an index holding none of the
   * records (a break-it round).
   */
  private indexLost(): IndexBindingError | null {
    return this.misbound?.fields.some((f) => INDEX_LOST_FIELDS.includes(f)) ? this.misbound : null;
  }

  /**
   * Why the index cannot be counted on yet, after the guard did what it can within the deadline (see
   * `IndexGuard.inQuestion`), or `undefined`: one meta read when nothing is in question.
   * @throws {IndexBindingError} when the index is lost to this source ({@link currentDrift}): nothing this
   *   process can wait for.
   */
  private async indexDoubt(deadline: number, timeoutMs: number): Promise<string | undefined> {
    const lost = this.indexLost();
    if (lost) throw lost;
    let held = this.guard.busy;
    if (held === undefined) {
      const drift = await this.guard.drift();
      if (drift === null) return undefined;
      held = `the index drifted: ${drift.reason}`;
    }
    return beforeDeadline(this.clock, this.guard.inQuestion(), deadline, `flush (${held})`, timeoutMs);
  }

  /**
   * Stops accepting writes ({@link ClosedError}), drains within `timeoutMs` when `drain` (default true),
   * stops the workers and closes the stores. Whatever did not drain stays in the outbox for the next start.
   * Idempotent: later calls return the first call's report. Never rejects once it started: with the source of
   * truth unreachable (a database restart, a killed connection) it still stops everything and closes both
   * stores, and says so in {@link CloseReport.error} (`drained: false`, counts `null` when they could not be
   * read). It returns within about `timeoutMs` (default 30,000) plus a second per remaining step even when a
   * backend hangs or an application transaction stays open (a hung store is then left to its own timeouts,
   * and the report carries a {@link TimeoutError}). A writer-only process (`deliver: false`) and a paused one
   * do not drain unless asked (`drain: true` then waits for other processes' workers): closing a paused process
   * does not resume its delivery, and does not wait `timeoutMs` for deliveries nothing here makes.
   * @throws {ValidationError} (rejected, nothing closed) for a `timeoutMs` that is not a finite number >= 0, a
   *   `drain` that is not a boolean, options that are not an object, or an option `close` does not take.
   */
  close(options?: CloseOptions): Promise<CloseReport> {
    if (this.closeReport) return this.closeReport;
    let drain: boolean;
    let timeoutMs: number;
    try {
      const o = optionsObject(options, CLOSE_KEYS);
      timeoutMs = timeoutOption(o.timeoutMs, 'options.timeoutMs', 30_000);
      if (o.drain !== undefined && typeof o.drain !== 'boolean')
        throw new ValidationError('options.drain', `is ${describeValue(o.drain)}`, { limit: 'a boolean' });
      drain = o.drain ?? (this.deliver && !this.userPaused);
    } catch (error) {
      return Promise.reject(error); // bad options: nothing is closed; call again with valid ones
    }
    this.closeReport = this.doClose(drain, timeoutMs);
    return this.closeReport;
  }

  private async doClose(drain: boolean, timeoutMs: number): Promise<CloseReport> {
    const wasOpen = this.state === 'open';
    this.state = 'closing';
    const deadline = this.clock.now() + timeoutMs;
    let drained = !wasOpen;
    let firstError: Error | undefined;
    /**
     * Runs one step of the shutdown, bounded by the deadline (steps after it still get a second each: a hung
     * backend must not keep close() from returning, and a healthy one gets to close) plus `graceMs`, keeping
     * the first error.
     */
    const attempt = async (step: () => Promise<unknown>, what: string, graceMs = 0): Promise<void> => {
      try {
        const by = Math.max(deadline, this.clock.now() + 1_000) + graceMs;
        await beforeDeadline(this.clock, step(), by, `close: ${what}`, timeoutMs);
      } catch (error) {
        firstError ??= error instanceof Error ? error : new Error(String(error));
      }
    };
    if (wasOpen) {
      // Writes in flight finish first (or the drain below reports they did not, within the same deadline).
      await beforeDeadline(
        this.clock,
        Promise.allSettled([...this.activeWrites]),
        deadline,
        'close: writes in flight',
        timeoutMs,
      ).catch(() => {});
      if (drain)
        await attempt(async () => {
          try {
            this.refuseInsideTransaction('flush');
            await this.waitDelivered(Math.max(0, deadline - this.clock.now()), false);
            drained = true;
          } catch (error) {
            if (!(error instanceof TimeoutError)) throw error;
          }
        }, 'drain');
      this.stopSourceClock();
      await attempt(() => this.guard.stop(), 'index checks');
      await attempt(async () => this.lateWrites?.stop(), 'late-write checks');
      // A claim still running (behind an application's open transaction) is waited for up to the lease it
      // takes: the store must stay open to take its leases back (see OutboxDrainer.stop).
      await attempt(
        () => this.strategy.stop({ timeoutMs: Math.max(1_000, deadline - this.clock.now()) }),
        'delivery',
        this.context.delivery.leaseMs,
      );
    }
    await attempt(async () => this.embeddings?.stop(), 'embedding cache');
    let left: OutboxStats | undefined;
    await attempt(async () => {
      left = await this.relational.outboxStats(this.clock.now());
    }, 'outbox count');
    this.state = 'closed';
    this.releaseStores();
    if (this.closeStores) {
      await attempt(() => this.vector.close(), 'vector store');
      await attempt(() => this.relational.close(), 'relational store');
    }
    return {
      drained,
      remaining: left?.depth ?? null,
      deadLetters: left?.deadLetters ?? null,
      ...(firstError && { error: firstError }),
    };
  }

  /** Outbox gauges and delivery counters. */
  async stats(): Promise<DualwriteStats> {
    this.refuseInsideTransaction('stats');
    this.assertOpen();
    const now = this.clock.now();
    const o = await this.relational.outboxStats(now);
    const s = this.strategy.stats();
    return {
      ...this.metrics,
      strategy: this.strategy.name,
      relational: this.relational.name,
      vector: this.vector.name,
      outboxDepth: o.depth,
      inFlight: o.inFlight,
      deadLetters: o.deadLetters,
      oldestPendingAgeMs: o.oldestPendingAt === null ? 0 : Math.max(0, now - o.oldestPendingAt),
      paused: s.paused,
      deliveryStopped: this.misbound?.message ?? this.guard.held?.message ?? null,
      backendDown: s.backendDown,
      downBackend: s.downBackend ?? (s.backendDown ? 'vector' : null),
      indexDrift: await this.currentDrift(),
      delivering: this.deliver,
      wakeUps: this.wakeUps(this.localClock.now()),
      clockOffsetMs: this.sourceClock?.reading ? this.sourceClock.offsetMs : null,
    };
  }

  /** {@link DualwriteStats.wakeUps} as of `now`. */
  private wakeUps(now: number): DualwriteStats['wakeUps'] {
    const health = this.relational.listenerHealth?.();
    if (health === undefined) return null;
    const at = health.lastNotificationAt;
    return { ...health, lastNotificationAgeMs: at === null ? null : Math.max(0, now - at) };
  }

  /**
   * Runs the index checks now (identity against the binding, row count against the records that claim
   * to be synced, the restore checks, the next page of the rolling sweep, and the sampled reconcile when
   * `driftCheck.sampleRate > 0`), waits for any repair they
   * start to enqueue its repairs, and returns the drift still recorded (`null` when none).
   */
  async checkIndex(): Promise<IndexDrift | null> {
    this.refuseInsideTransaction('checkIndex');
    this.assertOpen();
    await this.guard.check();
    await this.guard.settled();
    return this.currentDrift();
  }

  /** Where a record stands between the two stores. See {@link SyncStatus}. */
  async syncStatus(id: string): Promise<SyncStatus> {
    this.refuseInsideTransaction('syncStatus');
    validateId(id, 'id', this.limits);
    const entry = await readOutboxEntry(this.relational, id);
    if (entry) return statusFromEntry(entry);
    const rec = (await this.relational.getRecords([id], { includeDeleted: true })).get(id);
    if (!rec) return { id, state: 'absent' };
    if (rec.syncedVersion === rec.version) {
      // The index itself is in question (replaced, emptied, written by another source): "synced" cannot be
      // claimed until repaired.
      const drift = await this.currentDrift();
      if (drift)
        return {
          id,
          state: 'drifted',
          version: rec.version,
          syncedVersion: rec.syncedVersion,
          reason: drift.reason,
        };
      // A sync-2pc write of the id that is in flight, or abandoned by a crashed writer, may have reached the
      // index with a version SQL never committed: then "synced" only if the index is seen holding this version.
      const intents = hasIntentLog(this.relational)
        ? await this.relational.transaction(async (tx) => (await tx.countIntents?.(id)) ?? 0)
        : 0;
      if (intents > 0 && !(await this.indexHolds(rec)))
        return {
          id,
          state: 'drifted',
          version: rec.version,
          syncedVersion: rec.syncedVersion,
          reason: `${intents} sync-2pc write(s) of this id in flight or abandoned: the index may hold a version not committed here until it commits or recovery rolls it back (after intentTtlMs)`,
        };
      return { id, state: 'synced', version: rec.version, deleted: rec.deleted };
    }
    return { id, state: 'drifted', version: rec.version, syncedVersion: rec.syncedVersion };
  }

  /** Whether the index is seen holding `rec`'s version (no row for a tombstone); `false` when it cannot say. */
  private async indexHolds(rec: StoredRecord): Promise<boolean> {
    try {
      const indexed = (await this.vector.getVersions([rec.id])).get(rec.id);
      return rec.deleted ? indexed === undefined : indexed === rec.version;
    } catch {
      return false;
    }
  }

  /**
   * Read-your-writes for just these ids: resolves when none of them is pending, with each one's status
   * (`synced`, `dead-lettered`, `absent`, ...).
   * @throws {TimeoutError} after `timeoutMs` (default 30,000 ms).
   * @throws {ValidationError} when `ids` is not an array of valid ids, `timeoutMs` not a finite number >= 0, or
   *   an option is one `awaitSynced` does not take.
   */
  async awaitSynced(ids: readonly string[], options?: WaitOptions): Promise<SyncStatus[]> {
    this.refuseInsideTransaction('awaitSynced');
    if (!Array.isArray(ids)) throw new ValidationError('ids', 'must be an array of ids');
    const timeoutMs = timeoutOption(optionsObject(options, WAIT_KEYS).timeoutMs, 'options.timeoutMs', 30_000);
    for (const [i, id] of ids.entries()) validateId(id, `ids[${i}]`, this.limits);
    this.strategy.requestFlush(true);
    try {
      await awaitDelivery(
        this.relational as RelationalStore,
        ids,
        this.clock,
        (ms) => this.strategy.waitForProgress(ms),
        timeoutMs,
      );
    } finally {
      this.strategy.requestFlush(false);
    }
    return Promise.all(ids.map((id) => this.syncStatus(id)));
  }

  /**
   * Finds and (unless `dryRun`) repairs drift between the index and the source of truth.
   * @throws {ValidationError} for options it does not know or values outside their range (see
   *   `validateReconcileOptions`), before anything is read.
   */
  async reconcile(options?: ReconcileOptions): Promise<ReconcileReport> {
    this.refuseInsideTransaction('reconcile');
    this.assertOpen();
    const checked = validateReconcileOptions(options);
    const report = await reconcile(this.relational as RelationalStore, this.vector, this.clock, checked);
    if (report.repairsEnqueued > 0) await this.strategy.afterCommit([]);
    return report;
  }

  /**
   * Dead letters ordered by id, `limit` per page (default 100). Each carries `id` (like every other
   * facade result) and, for compatibility, the outbox's `recordId`.
   * @throws {ValidationError} for options that are not an object, an option it does not take (`limt`), or an
   *   `after` that is not an id.
   */
  async listDeadLetters(listOptions?: DeadLetterListOptions): Promise<DeadLetter[]> {
    this.refuseInsideTransaction('listDeadLetters');
    const options = optionsObject(listOptions, DEAD_LETTER_LIST_KEYS);
    if (options.after !== undefined) validateId(options.after, 'options.after', this.limits);
    const entries = await this.relational.listDeadLetters({
      after: options.after,
      limit: options.limit ?? 100,
    });
    return entries.map((e) => ({ id: e.recordId, ...e }));
  }

  /** Moves dead letters (all, or `ids`) back to pending. Returns how many. */
  async requeueDeadLetters(ids?: readonly string[]): Promise<number> {
    this.refuseInsideTransaction('requeueDeadLetters');
    if (ids !== undefined) {
      if (!Array.isArray(ids)) throw new ValidationError('ids', 'must be an array of ids (or omitted: all)');
      for (const [i, id] of ids.entries()) validateId(id, `ids[${i}]`, this.limits);
    }
    const n = await this.relational.requeueDeadLetters(ids, this.clock.now());
    if (n > 0) await this.strategy.afterCommit([]);
    return n;
  }

  /** Pauses delivery; writes are still accepted into the outbox. */
  pause(): void {
    this.userPaused = true;
    this.strategy.pause();
  }

  /**
   * Resumes delivery — unless the index is still being verified, this process is writer-only, or a check found
   * the source bound to another index, embedder or source of truth than this process is configured with
   * (delivery stays stopped until the process is restarted with the right configuration).
   */
  resume(): void {
    this.userPaused = false;
    if (!this.guard.unverified && this.deliver && !this.misbound) this.strategy.resume();
  }

  private async write(changes: Change[]): Promise<WriteResult[]> {
    if (this.yielder.due()) {
      this.metrics.writerYields++;
      await this.yielder.turn();
    }
    return this.track(async () => {
      // sync-2pc writes the index itself, in the call: not into an index the source is no longer bound to.
      if (this.misbound && this.deliversInCall) throw this.misbound;
      const unique = lastOfEachId(changes);
      const admission = await this.gate.admit(unique.changes.length);
      let results: WriteResult[] = [];
      try {
        if (unique.changes.length === 0) return [];
        results = await this.strategy.write(unique.changes);
        await this.requeueUnchanged(results);
        return unique.resultAt.map((j) => results[j]!);
      } finally {
        // What the write left pending: a changed record, unless sync-2pc delivered it in the call.
        admission.done(results.filter((r) => r.changed && (!this.deliversInCall || r.deferred)).length);
      }
    });
  }

  /**
   * A write that changed nothing of a record whose delivery was dead-lettered requeues it (one statement, only for
   * calls with unchanged records): writing the same state again is how a caller retries, and it must reach the
   * index. Before, a sync-2pc put answered with a retryable error while the embedder was down (the record committed
   * and queued, then dead-lettered) was retried as the answer said, and the retry came back `changed: false`,
   * leaving the record dead-lettered for good (a break-it round over the demo API). Under sync-2pc the call then
   * waits for that delivery, as for a unit of work.
   */
  private async requeueUnchanged(results: readonly WriteResult[]): Promise<void> {
    const unchanged = [...new Set(results.filter((r) => !r.changed).map((r) => r.id))];
    if (await this.requeueDeadLettered(unchanged)) await this.strategy.afterCommit(unchanged);
  }

  /** Requeues those of `ids` that are dead-lettered; `true` when any was. No statement for no ids. */
  private async requeueDeadLettered(ids: readonly string[]): Promise<boolean> {
    return ids.length > 0 && (await this.relational.requeueDeadLetters(ids, this.clock.now())) > 0;
  }

  private async track<T>(fn: () => Promise<T>): Promise<T> {
    this.assertOpen();
    return runningIn(this.activeWrites, fn());
  }

  /**
   * Validates a record for `put` (errors name `field`), with the vector store's metadata key rules. A record
   * without an embedding needs an embedder somewhere: refused when this process has none and delivers
   * itself (its own drainer could only dead-letter it) or writes the index in the call (sync-2pc); a
   * writer-only process (`deliver: false`) of the async strategies accepts it: the workers embed.
   */
  private validatePut(input: unknown, field: string): ValidRecord {
    const record = validateRecord(input, this.vector.dimension, field, this.limits, this.keyProblem);
    if (record.embedding !== undefined) this.refuseUnsearchable(record.embedding, `${field}.embedding`);
    const tooLarge = this.vector.recordSizeProblem?.(record);
    if (tooLarge !== undefined)
      throw new ValidationError(field, tooLarge, {
        limit: `what one ${this.vector.name} write request carries`,
      });
    if (record.embedding === undefined && !this.embeddings && this.deliversInCall)
      throw new ValidationError(
        `${field}.embedding`,
        'is required: no embedder is configured and sync-2pc writes the index in the call (configure an embedder)',
      );
    if (record.embedding === undefined && !this.embeddings && this.deliver)
      throw new ValidationError(
        `${field}.embedding`,
        'is required: no embedder is configured and this process delivers (configure an embedder, or use deliver: false and let a worker with one embed)',
      );
    return record;
  }

  /** Refuses an embedding the index would store but never find (see `VectorStore.embeddingProblem`). */
  private refuseUnsearchable(embedding: readonly number[], field: string): void {
    const problem = this.vector.embeddingProblem?.(embedding);
    if (problem !== undefined)
      throw new ValidationError(field, problem, { limit: 'a vector the index can search' });
  }

  /** The vector store's own metadata key rule, if it has one. */
  private readonly keyProblem = (key: string): string | undefined => this.vector.metadataKeyProblem?.(key);

  /**
   * Refuses a facade call made from inside this facade's own `transaction()` callback: the transaction holds
   * the source of truth's connection (a write or read would deadlock or miss its rows), and `flush` would wait
   * for the transaction itself.
   * @throws {ValidationError} naming the call and what to use instead.
   */
  private refuseInsideTransaction(method: string): void {
    const scope = insideTransaction.getStore();
    if (scope?.facade !== this || !scope.running) return;
    throw new ValidationError(
      method,
      `dw.${method}() was called inside dw.transaction() — use the callback's uow (uow.put, uow.delete, uow.db) ` +
        'there, and call it after the transaction resolved',
      { limit: 'not inside transaction()' },
    );
  }

  /** Why this process is not delivering, for a timeout's message (`''` when it is). */
  private whyNotDelivering(): string {
    if (!this.deliver) return '; this process does not deliver (deliver: false): a worker must';
    if (this.misbound) return `; delivery is stopped here: ${this.misbound.message}`;
    if (this.userPaused) return '; delivery is paused here (dw.resume() resumes it)';
    if (this.guard.unverified) return '; delivery waits here until the index can be checked';
    return '';
  }

  /** The strategy writes the index itself, in the call (sync-2pc): what it wrote is not left in the outbox. */
  private get deliversInCall(): boolean {
    return this.strategy.name === 'sync-2pc';
  }

  private assertOpen(): void {
    if (this.state === 'new') throw new ClosedError('dualwrite (not opened: use createDualWrite)');
    if (this.state !== 'open') throw new ClosedError('dualwrite');
  }
}

function statusFromEntry(entry: OutboxEntry): SyncStatus {
  if (entry.state === 'dead')
    return {
      id: entry.recordId,
      state: 'dead-lettered',
      version: entry.version,
      attempts: entry.attempts,
      error: entry.lastError ?? '',
    };
  return {
    id: entry.recordId,
    state: 'pending',
    version: entry.version,
    attempts: entry.attempts,
    nextAttemptAt: entry.nextAttemptAt,
    // A write re-enqueues an entry with its attempts at 0 and keeps the older version's error; a failure that
    // concerned an older state (overtaken under its lease) charges nothing. Either way it is not this version's.
    lastError: entry.attempts > 0 ? entry.lastError : null,
  };
}

/**
 * Creates the facade, initialises the relational schema and starts the strategy (which first recovers
 * abandoned sync-2pc intents; expired leases are re-claimed by the workers). Call `close()` when done: an
 * open facade's delivery loop keeps the process alive.
 * @throws {ValidationError} for an embedder missing `id`, `dimension`, `maxBatchSize` or `embed` (see
 *   `validateEmbedder`); {@link DimensionMismatchError} when its dimension is not the vector store's;
 *   {@link IndexBindingError} when the source is bound to another index or embedder; the relational store's
 *   typed error when it cannot be initialised. After a failed start nothing keeps running, and the stores are
 *   closed unless `closeStores: false`.
 *
 * @example
 * ```ts
 * const dw = await createDualWrite({ relational, vector, strategy: 'batch', embedder: new HashingEmbedder() });
 * await dw.put({ id: 'doc-1', text: 'hello', metadata: { lang: 'en' } });
 * await dw.flush();
 * ```
 */
export async function createDualWrite<Native>(options: DualWriteOptions<Native>): Promise<DualWrite<Native>> {
  return new DualWrite(options).open();
}

/** `running` holds `p` until it settles (for a wait on everything in flight); resolves or rejects as `p` does. */
async function runningIn<T>(running: Set<Promise<unknown>>, p: Promise<T>): Promise<T> {
  running.add(p);
  try {
    return await p;
  } finally {
    running.delete(p);
  }
}
