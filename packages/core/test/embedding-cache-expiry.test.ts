/**
 * The embedding cache expires: an entry not stored or used for a write within `embeddingCacheTtlMs` is pruned in
 * the background of writes that embed, so the cache holds the texts of the last TTL, not every text ever
 * embedded (measured before: 55,000 rows for 10,800 live records, 77 % of a SQLite file). Use marks are
 * written at most twice per TTL per entry; search queries never mark.
 */
import { describe, expect, it, vi } from 'vitest';
import { PRUNE_CHUNK } from '../src/embedders/embedding-cache-pruner.js';
import {
  createDualWrite,
  createMetrics,
  EmbeddingService,
  HashingEmbedder,
  ManualClock,
  textHash,
  ValidationError,
} from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

/** The hashing embedder, counting the texts it embeds. */
class CountingEmbedder extends HashingEmbedder {
  texts: string[] = [];
  constructor() {
    super({ dimension: DIM });
  }
  override async embed(texts: readonly string[]): Promise<number[][]> {
    this.texts.push(...texts);
    return super.embed(texts);
  }
}

function service(cacheTtlMs?: number) {
  const clock = new ManualClock(1_000_000);
  const embedder = new CountingEmbedder();
  const store = new MemoryRelationalStore();
  const metrics = createMetrics();
  const svc = new EmbeddingService(embedder, store, metrics, {
    clock,
    ...(cacheTtlMs !== undefined && { cacheTtlMs }),
  });
  const cached = async (...texts: string[]) =>
    [...(await store.getCachedEmbeddings(texts.map((t) => `${embedder.id}:${textHash(t)}`))).keys()].length;
  /** Waits for the background prune the last write started. */
  const pruned = (evicted: number) => vi.waitFor(() => expect(metrics.embeddingCacheEvicted).toBe(evicted));
  return { clock, embedder, store, metrics, svc, cached, pruned };
}

describe('embedding cache expiry', () => {
  it('prunes entries unused for the TTL; a hit for a write keeps its entry, a search hit does not', async () => {
    const { clock, embedder, svc, cached, pruned, metrics } = service(1_000);
    await svc.embed(['kept', 'searched', 'dropped']);
    clock.advance(400);
    await svc.embed(['kept']); // mark 0 ms old of 1,000: not half a TTL, not written
    clock.advance(300);
    await svc.embed(['kept']); // now 700 ms old: marked again
    await svc.embed(['searched'], { persist: false }); // a search query: never marks
    clock.advance(800); // t = 1,500: 'searched' and 'dropped' are 1,500 ms old, 'kept' 800
    await svc.embed(['another']); // a write that adds an entry: starts a prune
    await pruned(2);
    expect(await cached('kept', 'another')).toBe(2);
    expect(await cached('searched'), 'a search hit did not keep it').toBe(0);
    expect(await cached('dropped')).toBe(0);
    embedder.texts = [];
    await svc.embed(['dropped', 'kept']);
    expect(embedder.texts, 'a pruned text is embedded again; a kept one is served').toEqual(['dropped']);
    expect(metrics.embeddingCacheHits).toBeGreaterThanOrEqual(4);
    await svc.stop();
  });

  it('prunes at most once per quarter TTL, in chunks until nothing that old is left', async () => {
    const { clock, svc, store, pruned } = service(4_000);
    const many = Array.from({ length: 2 * PRUNE_CHUNK + 5 }, (_, i) => `text ${i}`);
    await store.putCachedEmbeddings(
      many.map((t) => ({ key: `k:${t}`, embedding: Array(DIM).fill(0.5) })),
      { usedAt: clock.now() },
    );
    await svc.embed(['first']); // prunes now: nothing is 4 s old
    clock.advance(5_000);
    await svc.embed(['second']); // a quarter TTL later: prunes the lot and 'first', in three transactions
    await pruned(many.length + 1);
    clock.advance(5_000);
    await svc.embed(['third']);
    await pruned(many.length + 2); // 'second'
    clock.advance(500);
    const prune = vi.spyOn(store, 'pruneCachedEmbeddings');
    await svc.embed(['fourth']);
    expect(prune, 'within a quarter TTL of the last prune').not.toHaveBeenCalled();
    await svc.stop();
  });

  it('keeps every entry with a TTL of 0, and refuses a negative or fractional TTL at createDualWrite', async () => {
    const { clock, svc, cached } = service(0);
    await svc.embed(['a']);
    clock.advance(365 * 86_400_000);
    await svc.embed(['b']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await cached('a', 'b')).toBe(2);
    await svc.stop();

    const open = (embeddingCacheTtlMs: number) =>
      createDualWrite({
        relational: new MemoryRelationalStore(),
        vector: new MemoryVectorStore({ dimension: DIM }),
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy: 'batch',
        embeddingCacheTtlMs,
      });
    await expect(open(-1)).rejects.toThrow(ValidationError);
    await expect(open(-1)).rejects.toMatchObject({ field: 'options.embeddingCacheTtlMs' });
    // Marks are whole ms (64-bit integer columns): a fractional TTL made half of it a fraction PostgreSQL refused.
    await expect(open(1_000.5)).rejects.toMatchObject({ field: 'options.embeddingCacheTtlMs' });
  });

  it('the facade prunes in the background of its writes and counts it in stats()', async () => {
    const relational = new MemoryRelationalStore();
    const embedder = new HashingEmbedder({ dimension: DIM });
    const dw = await createDualWrite({
      relational,
      vector: new MemoryVectorStore({ dimension: DIM }),
      embedder,
      strategy: 'async-queue',
      embeddingCacheTtlMs: 200,
      delivery: { pollIntervalMs: 5 },
    });
    await dw.put({ id: 'a', text: 'written once' });
    await dw.flush();
    const key = `${embedder.id}:${textHash('written once')}`;
    expect((await relational.getCachedEmbeddings([key])).size).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await dw.put({ id: 'b', text: 'written later' });
    await dw.flush();
    await vi.waitFor(async () => expect((await relational.getCachedEmbeddings([key])).size).toBe(0));
    expect((await dw.stats()).embeddingCacheEvicted).toBe(1);
    const stored = (await relational.getRecords(['a'])).get('a')!;
    expect(stored.embedding, 'the record keeps its own embedding').toHaveLength(DIM);
    await dw.close();
  });
});
