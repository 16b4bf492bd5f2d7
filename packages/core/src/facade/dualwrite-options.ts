import type { Embedder } from '../contracts/embedder.js';
import type { RelationalStore } from '../contracts/relational-store.js';
import type { VectorStore } from '../contracts/vector-store.js';
import type { DriftCheckOptions } from '../integrity/index-guard.js';
import type { DeliveryOptions } from '../outbox/delivery-options.js';
import type { RecordLimits } from '../record/limits.js';
import type { StrategyConfig } from '../strategies/strategy-registry.js';
import type { Clock } from '../util/clock.js';
import type { StaleHitPolicy } from './search.js';

/**
 * What happens when the outbox is deeper than `maxDepth` as a write arrives:
 * `'fail'` throws {@link BackpressureError} at once; `'wait'` waits up to `waitTimeoutMs` for the backlog
 * to drain below the limit, then throws it.
 */
export interface BackpressureOptions {
  /** Pending outbox entries above which writes are held back. */
  maxDepth: number;
  /** Default `'fail'`. */
  mode?: 'wait' | 'fail';
  /** `'wait'` mode: longest wait, ms. Default 5,000. */
  waitTimeoutMs?: number;
  /** How long a measured depth is reused, ms (bounds the cost of counting). Default 100. */
  depthCacheMs?: number;
}

/** Options of {@link createDualWrite}. */
export interface DualWriteOptions<Native = unknown> {
  /** The source of truth. */
  relational: RelationalStore<Native>;
  /** The derived vector index. */
  vector: VectorStore;
  /** `'sync-2pc'`, `'async-queue'`, `'batch'`, a name with knobs, or a custom strategy. */
  strategy: StrategyConfig;
  /** Computes embeddings for records written without one, and for text queries. */
  embedder?: Embedder;
  /**
   * How long an entry of the embedding cache (`<prefix>embedding_cache`: one row per distinct text embedded)
   * lives after it was last stored or used for a write, ms; `0` keeps every entry for good (the cache then
   * grows with every distinct text ever embedded). Expired entries are pruned in the background of writes that
   * embed; records keep their own embeddings, so expiry costs only embedder calls for a text seen again.
   * Default 7 days. Applies where the store prunes (`EmbeddingCache.pruneCachedEmbeddings`).
   */
  embeddingCacheTtlMs?: number;
  /**
   * Injectable time source: `now()` in Unix ms, `sleep(ms, signal)`. Read in whole ms (fractions dropped: the SQL
   * stores keep times in integer columns). Default: the wall clock, corrected to the source of truth's clock
   * where the store reads one (`sourceTime`); a clock given here is not corrected.
   * @throws {ValidationError} at `createDualWrite` on `options.clock.now` / `options.clock.sleep` when either is
   *   not a function, or `now()` does not read as Unix ms (a number 0..`Number.MAX_SAFE_INTEGER`).
   */
  clock?: Clock;
  /** Input limits. Default {@link DEFAULT_LIMITS}. */
  limits?: Partial<RecordLimits>;
  /** Delivery knobs: leases, attempts, backoff, polling. */
  delivery?: Partial<DeliveryOptions>;
  /** Outbox depth limit. Default: none. */
  backpressure?: BackpressureOptions;
  /** Default policy for stale search hits. Default `'drop'`. */
  staleHits?: StaleHitPolicy;
  /** `close()` also closes both stores. Default `true`. */
  closeStores?: boolean;
  /**
   * What to do when the source of truth is bound to another vector index (backend, location,
   * collection, dimension) or embedder than this configuration names. `'verify'` (default) refuses to
   * start with {@link IndexBindingError}; `'rebind'` moves the binding to the configured index and fills
   * it with a full repair reconcile. A store without `identity()` is never bound.
   */
  indexBinding?: 'verify' | 'rebind';
  /**
   * Background drift detection (identity, count and restore checks every `intervalMs`, a rolling sweep of
   * `sweepPage` records and index ids by content, an optional sampled reconcile); `false` turns it off. Default
   * `{ intervalMs: 30_000, sweepPage: 200, sampleRate: 0 }`. A process that neither delivers nor checks
   * (`deliver: false` with `driftCheck: false`: an inspector, like the `dualwrite` operator commands) repairs
   * nothing: drift its start-up check finds is reported (`stats().indexDrift`, the `index-drift` event) and left
   * to the processes that check.
   */
  driftCheck?: DriftCheckOptions | false;
  /**
   * `false`: a writer-only process — it writes records and outbox entries but starts no delivery (sync-2pc
   * still writes the index inline); dedicated workers (`dualwrite worker`) deliver, and embed records put
   * without an embedding. Use it for API processes next to workers, so they do not compete for claims.
   * `flush()` then waits for the workers. Default `true`.
   */
  deliver?: boolean;
  /**
   * Longest run of writes without letting the event loop turn, ms (see `EventLoopYield`): keeps a tight
   * `await put()` loop from starving delivery, timers and lease renewals in the same process. `0`
   * disables it. Default 2.
   */
  yieldEveryMs?: number;
}
