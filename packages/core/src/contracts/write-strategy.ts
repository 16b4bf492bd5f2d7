import type { EmbeddingService } from '../embedders/embedding-service.js';
import type { IndexBindingError } from '../errors.js';
import type { DualwriteEvents } from '../facade/events.js';
import type { SyncMetrics } from '../facade/metrics.js';
import type { DeliveryOptions } from '../outbox/delivery-options.js';
import type { ValidRecord } from '../record/validate.js';
import type { Clock } from '../util/clock.js';
import type { RelationalStore } from './relational-store.js';
import type { VectorStore } from './vector-store.js';

/** The built-in strategy names, selectable by one config value. */
export type StrategyName = 'sync-2pc' | 'async-queue' | 'batch';

/**
 * One validated change handed to a strategy. `embeddingFilled` marks a put whose embedding the embedder
 * computed for it (sync-2pc embeds before writing) rather than one the caller gave: it is stored like any other,
 * but counts as the embedder's (see `filledByEmbedder`), so an embedder change re-embeds it.
 */
export type Change =
  | { op: 'put'; record: ValidRecord; embeddingFilled?: boolean }
  | { op: 'delete'; id: string };

/** Outcome of one change. */
export interface WriteResult {
  id: string;
  /** Version now current in the source of truth (`null` when deleting an id that did not exist). */
  version: number | null;
  /** `false` when the write was a no-op (unchanged content, or deleting an absent id). */
  changed: boolean;
  /**
   * sync-2pc: committed and queued, not (yet) in the index when the call returned — in `defer-to-outbox` mode the
   * vector write failed and was left to the outbox; or another process's write of the id raced this one and
   * the redelivery of the id's current state did not finish within `RACED_REDELIVERY_WAIT_MS` (at once when
   * this process's delivery is paused: another process delivers it).
   */
  deferred?: boolean;
}

/** What a strategy gets from the facade when it starts. */
export interface StrategyContext {
  relational: RelationalStore;
  vector: VectorStore;
  /** Present when an embedder is configured. */
  embeddings: EmbeddingService | undefined;
  /**
   * Call before computing embeddings that will be stored or indexed: resolves when the source of truth is
   * bound to this process's embedder (or to none); otherwise stops this process's delivery and throws
   * {@link IndexBindingError} on field `embedder` (another process rebound the source to another embedder).
   * Absent: no check.
   */
  assertEmbedderBound?: () => Promise<void>;
  /**
   * Call before acknowledging a delivery or committing a sync-2pc write: resolves while the source of truth is
   * bound to this process's index (one read of the binding), otherwise stops delivery in this process and throws
   * {@link IndexBindingError} — another process rebound the source to another index or embedder, and a record
   * acknowledged here would read synced while the bound index lacks it. Absent: no check.
   */
  assertBound?: () => Promise<void>;
  /**
   * Call when the vector store reports an `IndexBindingError` during delivery (its collection was replaced by
   * one of another distance or dimension): stops delivery in this process, as a binding check finding it would.
   */
  indexMisbound?: (error: IndexBindingError) => void;
  /**
   * Call when the vector store reports a rewind after a write (`VectorStore.takeRewind`: an older copy of the
   * index restored under it): starts the index repair. Absent: not checked.
   */
  indexRewound?: (reason: string) => void;
  /**
   * Call with the ids of a vector write that failed but may still land (a timeout) — or of another writer's that
   * may (an entry taken over from an expired lease, an abandoned sync-2pc intent) — on a store without a version
   * fence: they are looked at again later, and repaired if a late landing left the index behind the source
   * (`LateWriteWatch`). Absent: not watched.
   */
  writesInDoubt?: (ids: readonly string[]) => void;
  clock: Clock;
  events: DualwriteEvents;
  metrics: SyncMetrics;
  delivery: DeliveryOptions;
}

/** Counters a strategy reports through `stats()`. */
export interface StrategyStats {
  /** Deliveries currently running in this process. */
  inFlight: number;
  /** `true` while draining is paused by the caller. */
  paused: boolean;
  /** `true` while draining is paused because the vector store (or the embedder) is unreachable. */
  backendDown: boolean;
  /**
   * What is unreachable while {@link backendDown}: `'vector'` (the index) or `'embedder'`; `null` otherwise.
   * Optional for strategies written before it (the facade then reports `'vector'`).
   */
  downBackend?: 'vector' | 'embedder' | null;
}

/**
 * How writes reach both stores. The three built-ins are `sync-2pc`, `async-queue` and `batch`; each is
 * selected by one config value on the facade. All keep the invariant: the relational store is the
 * source of truth, and the vector index converges to each record's current state.
 */
export interface WriteStrategy {
  readonly name: string;
  /** Starts background work (recovery of abandoned intents, outbox draining). Called once by the facade. */
  start(context: StrategyContext): Promise<void>;
  /**
   * Applies validated changes (a `putMany` is one call, committed in one SQL transaction).
   * @throws {BackendUnavailableError} and friends (sync-2pc) when the vector write fails; nothing is
   *   half-written.
   */
  write(changes: readonly Change[]): Promise<WriteResult[]>;
  /**
   * Called after a unit of work committed records and outbox entries for `ids` in an application's
   * transaction. async/batch strategies wake their workers; sync-2pc waits until the ids are synced.
   */
  afterCommit(ids: readonly string[]): Promise<void>;
  /** Wakes workers and skips batching delays until the next `flush` completes. */
  requestFlush(active: boolean): void;
  /** Resolves at this process's next delivery, or after `ms` ms (used by `flush` and `awaitSynced`). */
  waitForProgress(ms: number): Promise<void>;
  /**
   * How many failed writes of this process still have to be taken back in the source of truth before the index
   * can equal it (sync-2pc: intents whose compensation found the source unreachable); `flush` waits for none.
   * Absent: none ever.
   */
  unresolvedWrites?(): number;
  /**
   * Pauses delivery (writes are still accepted into the outbox). May be called before {@link start}: the
   * strategy then starts paused and claims nothing until {@link resume}.
   */
  pause(): void;
  /** Resumes delivery. */
  resume(): void;
  /**
   * Stops background work. In-flight deliveries finish or give their leases back; loops still busy after
   * `timeoutMs` (a hung vector call) are abandoned to their leases. A claim still running (queued behind a lock)
   * is waited for, up to the lease it takes, so that the store is still open to take those leases back.
   */
  stop(options: { timeoutMs: number }): Promise<void>;
  stats(): StrategyStats;
}
