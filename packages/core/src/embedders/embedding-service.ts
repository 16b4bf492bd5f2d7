import type { Embedder } from '../contracts/embedder.js';
import { hasEmbeddingCache, type RelationalStore } from '../contracts/relational-store.js';
import type { SyncMetrics } from '../facade/metrics.js';
import { textHash } from '../record/content-hash.js';
import { validateEmbedding } from '../record/validate.js';
import { type Clock, systemClock } from '../util/clock.js';
import { EmbeddingCachePruner } from './embedding-cache-pruner.js';

/** The text {@link EmbeddingService.probe} embeds. */
export const EMBEDDER_PROBE_TEXT = 'dualwrite embedder health probe';

/** Default {@link EmbeddingServiceOptions.cacheTtlMs}: 7 days. */
export const DEFAULT_EMBEDDING_CACHE_TTL_MS = 7 * 24 * 3_600_000;

/** Options of {@link EmbeddingService}. */
export interface EmbeddingServiceOptions {
  /**
   * How long a cache entry lives after it was last stored or used for a write, ms; `0` keeps every entry for
   * good. Default {@link DEFAULT_EMBEDDING_CACHE_TTL_MS}. Applies where the store can prune
   * (`EmbeddingCache.pruneCachedEmbeddings`).
   */
  cacheTtlMs?: number;
  /** Time source for the entries' use marks. Default the wall clock. */
  clock?: Clock;
}

/**
 * Embeds texts through the configured {@link Embedder}, with a persistent cache in the relational store
 * keyed by `<embedder id>:<sha256(text)>`: a text is embedded once while its entry lives. An entry lives
 * `cacheTtlMs` after it was last stored or used for a write (marked again when half of that passed, so a hit
 * rarely writes), and expired entries are pruned in the background of the writes that add entries. Expiry
 * costs nothing but embedder calls: records keep their own embeddings.
 */
export class EmbeddingService {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #pruner: EmbeddingCachePruner | undefined;

  constructor(
    readonly embedder: Embedder,
    private readonly relational: RelationalStore,
    private readonly metrics: SyncMetrics,
    options: EmbeddingServiceOptions = {},
  ) {
    this.#clock = options.clock ?? systemClock;
    this.#ttlMs = options.cacheTtlMs ?? DEFAULT_EMBEDDING_CACHE_TTL_MS;
    const cache = hasEmbeddingCache(relational) ? relational : undefined;
    const prune = cache?.pruneCachedEmbeddings?.bind(cache);
    this.#pruner =
      prune && this.#ttlMs > 0
        ? new EmbeddingCachePruner(prune, this.#ttlMs, this.#clock, metrics)
        : undefined;
  }

  /** Stops pruning the cache (waits for a prune's running transaction). */
  async stop(): Promise<void> {
    await this.#pruner?.stop();
  }

  /**
   * Whether the embedder works at all: embeds {@link EMBEDDER_PROBE_TEXT} (no cache), checking the length. The
   * drainer asks it when embedding records failed, to tell an embedder that is down (its outage, not charged to
   * the records) from one refusing a record's text.
   * @throws what the embedder throws; {@link DimensionMismatchError} if it returns a wrong length.
   */
  async probe(): Promise<void> {
    this.metrics.embedderCalls++;
    const [vector] = await this.embedder.embed([EMBEDDER_PROBE_TEXT]);
    validateEmbedding(vector, this.embedder.dimension, `embedder(${this.embedder.id})[0]`);
  }

  /**
   * One embedding per text, in order.
   * @param options.persist - store new embeddings in the cache (default `true`); search queries pass
   *   `false` so reads never grow the cache.
   * @param options.cacheFailure - maps what the cache (the relational store) threw on a read before it is
   *   rethrown: delivery marks it as the source of truth's fault, not the records'. A failed cache write is
   *   ignored (the embeddings are computed).
   * @throws what the embedder throws; {@link DimensionMismatchError} if it returns a wrong length; what the
   *   cache read throws (through `cacheFailure`).
   */
  async embed(
    texts: readonly string[],
    options: { persist?: boolean; cacheFailure?: (error: unknown) => unknown } = {},
  ): Promise<number[][]> {
    const keys = texts.map((t) => `${this.embedder.id}:${textHash(t)}`);
    const store = hasEmbeddingCache(this.relational) ? this.relational : undefined;
    const fromCache = async <T>(call: (cache: NonNullable<typeof store>) => Promise<T>) => {
      try {
        return store && (await call(store));
      } catch (error) {
        throw options.cacheFailure ? options.cacheFailure(error) : error;
      }
    };
    const persist = options.persist !== false;
    const now = this.#clock.now();
    const refresh =
      persist && this.#ttlMs > 0 ? { refresh: { usedAt: now, staleBefore: now - this.#ttlMs / 2 } } : {};
    const cached =
      (await fromCache((cache) => cache.getCachedEmbeddings([...new Set(keys)], refresh))) ??
      new Map<string, number[]>();
    const missing = new Map<string, string>();
    keys.forEach((key, i) => {
      if (!cached.has(key)) missing.set(key, texts[i]!);
    });
    this.metrics.embeddingCacheHits += texts.length - missing.size;
    const missingKeys = [...missing.keys()];
    for (let start = 0; start < missingKeys.length; start += this.embedder.maxBatchSize) {
      const chunkKeys = missingKeys.slice(start, start + this.embedder.maxBatchSize);
      this.metrics.embedderCalls++;
      const vectors = await this.embedder.embed(chunkKeys.map((k) => missing.get(k)!));
      const entries = chunkKeys.map((key, i) => ({
        key,
        embedding: validateEmbedding(
          vectors[i],
          this.embedder.dimension,
          `embedder(${this.embedder.id})[${i}]`,
        ),
      }));
      this.metrics.embeddedTexts += entries.length;
      if (persist && store) {
        // Best effort: the embeddings are computed. A cache write that failed (a lock wait, a deadlock) costs at
        // most an embedder call later; an outage fails the write's or the delivery's next step anyway.
        await store.putCachedEmbeddings(entries, { usedAt: this.#clock.now() }).catch(() => {});
        this.#pruner?.nudge();
      }
      for (const e of entries) cached.set(e.key, e.embedding);
    }
    return keys.map((k) => cached.get(k)!);
  }
}
