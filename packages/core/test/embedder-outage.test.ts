/**
 * An embedder that is down (every call fails with a 5xx, a 503 or a 429) is an outage of delivery, not a fault of
 * the records: nothing is charged or dead-lettered while it lasts, and every write is delivered once it answers
 * again. A text the embedder refuses while it embeds others is still the record's own failure.
 */
import { describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  createDualWrite,
  type Embedder,
  HashingEmbedder,
  TransientBackendError,
} from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

/**
 * A hashing embedder that fails while `down` (with the HTTP status, or `'unreachable'`: the connection refused, as
 * the OpenAI-compatible embedder reports it), or for texts containing `refuses`.
 */
class UnwellEmbedder implements Embedder {
  readonly id = 'unwell-v1';
  readonly dimension = DIM;
  readonly maxBatchSize = 16;
  down = false;
  calls = 0;
  readonly #inner = new HashingEmbedder({ dimension: DIM });
  constructor(
    private readonly status: number | 'unreachable',
    private readonly refuses?: string,
  ) {}
  async embed(texts: readonly string[]): Promise<number[][]> {
    this.calls++;
    const status = this.status;
    if (this.down && status === 'unreachable') throw new BackendUnavailableError('connect ECONNREFUSED');
    if (this.down || (this.refuses !== undefined && texts.some((t) => t.includes(this.refuses!))))
      throw new TransientBackendError(`embedder answered HTTP ${status}`, {
        status: status === 'unreachable' ? 0 : status,
      });
    return this.#inner.embed(texts);
  }
}

async function openWith(embedder: UnwellEmbedder, strategy: 'batch' | 'async-queue') {
  const relational = new MemoryRelationalStore();
  const vector = new MemoryVectorStore({ dimension: DIM });
  const dw = await createDualWrite({
    relational,
    vector,
    embedder,
    strategy,
    driftCheck: false,
    // Without the outage rule these would be dead-lettered within a fraction of a second.
    delivery: {
      maxAttempts: 3,
      backoff: { baseMs: 5, maxMs: 20, factor: 2, jitter: 'full' },
      outageProbeMs: 20,
      maxOutageProbeMs: 50,
    },
  });
  return { dw, relational, vector };
}

describe('an embedder that is down', () => {
  for (const [status, strategy] of [
    [500, 'batch'],
    [503, 'async-queue'],
    [429, 'batch'],
    ['unreachable', 'async-queue'],
  ] as const)
    it(`answering ${status} for a while (${strategy}): nothing is dead-lettered, everything is delivered after it recovers`, async () => {
      const embedder = new UnwellEmbedder(status);
      const { dw, vector } = await openWith(embedder, strategy);
      try {
        embedder.down = true;
        const ids = Array.from({ length: 6 }, (_, i) => `doc-${i}`);
        for (const id of ids) await dw.put({ id, text: `text of ${id}` });
        await new Promise((r) => setTimeout(r, 600));
        const during = await dw.stats();
        expect(during.deadLetters, 'no dead letter while the embedder is down').toBe(0);
        expect(during.backendDown, 'delivery knows it is down').toBe(true);
        expect(during.downBackend, 'and that it is the embedder').toBe('embedder');
        const callsDuring = embedder.calls;
        embedder.down = false;
        const report = await dw.flush({ timeoutMs: 10_000 });
        expect(report.deadLetters).toBe(0);
        expect((await vector.getVersions(ids)).size).toBe(6);
        // It probed with backoff rather than hammering the embedder (a probe every 20–50 ms for 600 ms).
        expect(callsDuring).toBeLessThan(80);
      } finally {
        await dw.close();
      }
    });

  it('a 503 for batches over two texts while it embeds one: the claim is split, nothing is dead-lettered', async () => {
    const embedder = new UnwellEmbedder(503);
    const embed = embedder.embed.bind(embedder);
    embedder.embed = (texts) =>
      texts.length > 2
        ? Promise.reject(new TransientBackendError('batch too long', { status: 503 }))
        : embed(texts);
    const { dw, vector } = await openWith(embedder, 'batch');
    try {
      const ids = Array.from({ length: 20 }, (_, i) => `doc-${i}`);
      await dw.putMany(ids.map((id) => ({ id, text: `text of ${id}` })));
      const report = await dw.flush({ timeoutMs: 10_000 });
      expect(report.deadLetters).toBe(0);
      expect((await vector.getVersions(ids)).size).toBe(20);
    } finally {
      await dw.close();
    }
  });

  it('a text it refuses while it embeds the others is still dead-lettered alone', async () => {
    const embedder = new UnwellEmbedder(500, 'poison');
    const { dw, vector } = await openWith(embedder, 'batch');
    try {
      await dw.putMany([
        { id: 'ok-1', text: 'fine' },
        { id: 'bad', text: 'a poison text' },
        { id: 'ok-2', text: 'also fine' },
      ]);
      const report = await dw.flush({ timeoutMs: 10_000 });
      expect(report.deadLetters).toBe(1);
      expect([...(await vector.getVersions(['ok-1', 'bad', 'ok-2'])).keys()].sort()).toEqual([
        'ok-1',
        'ok-2',
      ]);
    } finally {
      await dw.close();
    }
  });
});
