import type { SyncMetrics } from '../facade/metrics.js';
import type { Clock } from '../util/clock.js';

/** Entries one prune transaction deletes at most. */
export const PRUNE_CHUNK = 1_000;

/** Longest time between two prunes while the cache is written, ms (a quarter of the TTL when that is less). */
export const MAX_PRUNE_INTERVAL_MS = 10 * 60_000;

/**
 * Longest wait from the pruner's start to its first prune, ms (the interval when that is less): a process's
 * first writes do not pay for a prune (on the reference store a prune copies the whole state, and the claim
 * that waited behind it at start measured slow enough to shrink the next claim), and a process living a
 * minute still prunes.
 */
export const FIRST_PRUNE_AFTER_MS = 60_000;

/**
 * Expires the embedding cache: deletes the entries not used for `ttlMs`, in transactions of
 * {@link PRUNE_CHUNK} entries, in the background of the writes that grow it (a cache nobody writes does not
 * grow). At most one prune runs at a time in a process; prunes of several processes are harmless to each other
 * (an entry is deleted once, and one marked used again meanwhile stays). Failures are left to the next prune:
 * the cache only saves embedder calls, and records keep their own embeddings.
 */
export class EmbeddingCachePruner {
  readonly #intervalMs: number;
  /** When the next prune may start, Unix ms. */
  #nextDueAt: number;
  #running: Promise<void> | undefined;
  #stopped = false;

  /**
   * @param prune - the store's `EmbeddingCache.pruneCachedEmbeddings`.
   * @param ttlMs - how long an entry lives after it was last put or refreshed, ms (> 0).
   */
  constructor(
    private readonly prune: (usedBefore: number, limit: number) => Promise<number>,
    private readonly ttlMs: number,
    private readonly clock: Clock,
    private readonly metrics: SyncMetrics,
  ) {
    this.#intervalMs = Math.min(ttlMs / 4, MAX_PRUNE_INTERVAL_MS);
    this.#nextDueAt = clock.now() + Math.min(this.#intervalMs, FIRST_PRUNE_AFTER_MS);
  }

  /** Starts a prune in the background when one is due (and none is running). */
  nudge(): void {
    const now = this.clock.now();
    if (this.#stopped || this.#running || now < this.#nextDueAt) return;
    this.#nextDueAt = now + this.#intervalMs;
    this.#running = this.#prune(now - this.ttlMs)
      .catch(() => {})
      .finally(() => {
        this.#running = undefined;
      });
  }

  /** Stops pruning: waits for a running prune's current transaction, then starts no other. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
  }

  async #prune(usedBefore: number): Promise<void> {
    while (!this.#stopped) {
      const deleted = await this.prune(usedBefore, PRUNE_CHUNK);
      this.metrics.embeddingCacheEvicted += deleted;
      if (deleted < PRUNE_CHUNK) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
