/**
 * An embedder change under `indexBinding: 'rebind'` re-embeds what the old embedder filled: those embeddings
 * are derived data, like the index, and leaving them would fill the index with vectors of a model the
 * configuration no longer names — every check passing (the index equals the stored embeddings), every search
 * comparing query vectors of one model with record vectors of another. Embeddings callers gave are kept.
 */
import { describe, expect, it } from 'vitest';
import {
  contentHash,
  createDualWrite,
  type Embedder,
  filledByEmbedder,
  HashingEmbedder,
  type RecordInput,
  verifyConsistency,
} from '../src/index.js';
import { bindIndex } from '../src/integrity/index-binding.js';
import {
  MemoryRelationalData,
  MemoryRelationalStore,
  MemoryVectorData,
  MemoryVectorStore,
} from '../src/testing/index.js';

const DIM = 8;
const oldModel = new HashingEmbedder({ dimension: DIM });

/** Another model of the same dimension: the old one's vectors, reversed. */
class NewModel implements Embedder {
  readonly id = 'new-model:8';
  readonly dimension = DIM;
  readonly maxBatchSize = 64;
  async embed(texts: readonly string[]): Promise<number[][]> {
    return texts.map((t) => oldModel.embedOne(t).reverse());
  }
}
const newModel = new NewModel();

const f32 = (v: readonly number[]) => Array.from(Float32Array.from(v));
const given = f32(Array.from({ length: DIM }, (_, i) => (i === 3 ? 1 : 0)));

const filled: RecordInput[] = [
  { id: 'filled-1', text: 'the embedder fills this one' },
  { id: 'filled-2', text: 'and this one', metadata: { lang: 'en' } },
];
const callers: RecordInput = { id: 'given', text: 'the caller gave this vector', embedding: given };

async function open(
  strategy: 'sync-2pc' | 'async-queue' | 'batch',
  embedder: Embedder,
  data: { relational: MemoryRelationalData; vector: MemoryVectorData },
  indexBinding: 'verify' | 'rebind' = 'verify',
  deliver = true,
) {
  const relational = new MemoryRelationalStore({ data: data.relational });
  const vector = new MemoryVectorStore({ dimension: DIM, data: data.vector });
  const dw = await createDualWrite({
    relational,
    vector,
    embedder,
    strategy,
    indexBinding,
    deliver,
    delivery: { pollIntervalMs: 5 },
  });
  return { dw, relational, vector };
}

const stored = async (relational: MemoryRelationalStore, id: string) =>
  (await relational.getRecords([id])).get(id)!;
const indexed = async (vector: MemoryVectorStore, id: string) => (await vector.getRecords!([id])).get(id)!;

describe.each(['sync-2pc', 'async-queue', 'batch'] as const)('embedder change (%s)', (strategy) => {
  it('a stored embedding is the embedder’s when the latest write gave none', async () => {
    const data = { relational: new MemoryRelationalData(), vector: new MemoryVectorData() };
    const { dw, relational } = await open(strategy, oldModel, data);
    await dw.putMany([...filled, callers]);
    await dw.flush();
    for (const { id } of filled) expect(filledByEmbedder(await stored(relational, id)), id).toBe(true);
    expect(filledByEmbedder(await stored(relational, 'given'))).toBe(false);
    // The caller's latest write gives none (the stored vector is reused): from now on it is the embedder's.
    await dw.put({ id: 'given', text: callers.text, metadata: { touched: true } });
    // Every strategy keeps the stored vector of an unchanged text (sync-2pc too: no embedder call).
    expect((await stored(relational, 'given')).embedding).toEqual(given);
    expect(filledByEmbedder(await stored(relational, 'given'))).toBe(true);
    await dw.close();
  });

  it("'rebind' to another embedder re-embeds what the old one filled and keeps what callers gave", async () => {
    const data = { relational: new MemoryRelationalData(), vector: new MemoryVectorData() };
    const before = await open(strategy, oldModel, data);
    await before.dw.putMany([...filled, callers]);
    await before.dw.flush();
    const oldVersion = (await stored(before.relational, 'filled-1')).version;
    await before.dw.close();

    await expect(open(strategy, newModel, data), "'verify' refuses the other embedder").rejects.toMatchObject(
      {
        code: 'INDEX_BINDING',
      },
    );

    const after = await open(strategy, newModel, data, 'rebind');
    const repaired = new Promise<{ reembedded: number }>((resolve) =>
      after.dw.events.on('index-repaired', resolve),
    );
    expect((await repaired).reembedded).toBe(filled.length);
    await after.dw.flush();
    for (const r of filled) {
      const want = f32((await newModel.embed([r.text]))[0]!);
      const record = await stored(after.relational, r.id);
      expect(record.version, `${r.id} was written again`).toBeGreaterThan(oldVersion);
      expect(record.embedding, `${r.id} stored`).toEqual(want);
      expect(filledByEmbedder(record), `${r.id} is still the embedder's`).toBe(true);
      expect((await indexed(after.vector, r.id)).embedding, `${r.id} indexed`).toEqual(want);
    }
    expect((await stored(after.relational, 'given')).embedding, 'the caller’s vector is kept').toEqual(given);
    expect((await indexed(after.vector, 'given')).embedding).toEqual(given);
    const check = await verifyConsistency(after.relational, after.vector, { content: true });
    expect(check).toMatchObject({ lost: 0, stale: 0, mismatched: 0, orphans: 0, contentChecked: true });
    for (const r of filled) expect(await after.dw.syncStatus(r.id)).toMatchObject({ state: 'synced' });
    await after.dw.close();
  });

  it('a process still running with the old embedder never fills a cleared record; it stops, and sync-2pc refuses its writes', async () => {
    const data = { relational: new MemoryRelationalData(), vector: new MemoryVectorData() };
    const stale = await open(strategy, oldModel, data);
    await stale.dw.putMany(filled);
    await stale.dw.flush();
    const stopped: string[] = [];
    stale.dw.events.on('drain-error', ({ error }) => stopped.push(error));

    // Another process rebinds to the new embedder; it delivers nothing itself, so only the stale one could.
    const rebinder = await open(strategy, newModel, data, 'rebind', false);
    const repaired = new Promise((resolve) => rebinder.dw.events.on('index-repaired', resolve));
    await repaired;
    await expect
      .poll(() => stopped.some((e) => e.startsWith('delivery stopped')), { timeout: 5_000 })
      .toBe(true);
    for (const r of filled) {
      const record = await stored(stale.relational, r.id);
      expect(record.embedding, `${r.id} was not filled by the old model`).toBeNull();
      expect(await stale.dw.syncStatus(r.id)).toMatchObject({ state: 'pending' });
    }
    stale.dw.resume(); // does not restart a stopped delivery
    expect(await stale.dw.stats()).toMatchObject({
      paused: true,
      deliveryStopped: expect.stringContaining('embedder'),
    });
    const write = stale.dw.put({ id: 'late', text: 'written by the stale process' });
    if (strategy === 'sync-2pc') await expect(write).rejects.toMatchObject({ code: 'INDEX_BINDING' });
    else await write; // into the outbox: a process of the new configuration embeds and delivers it

    const worker = await open(strategy, newModel, data);
    await worker.dw.flush();
    for (const r of [
      ...filled,
      ...(strategy === 'sync-2pc' ? [] : [{ id: 'late', text: 'written by the stale process' }]),
    ])
      expect((await indexed(worker.vector, r.id)).embedding, r.id).toEqual(
        f32((await newModel.embed([r.text]))[0]!),
      );
    await Promise.all([stale.dw.close(), rebinder.dw.close(), worker.dw.close()]);
  });
});

it('a process that died after rebinding, before re-embedding: the next start finishes it', async () => {
  const data = { relational: new MemoryRelationalData(), vector: new MemoryVectorData() };
  const before = await open('batch', oldModel, data);
  await before.dw.putMany(filled);
  await before.dw.flush();
  await before.dw.close();
  // The binding moves to the new embedder and the process dies before its repair runs.
  const relational = new MemoryRelationalStore({ data: data.relational });
  const vector = new MemoryVectorStore({ dimension: DIM, data: data.vector });
  const outcome = await bindIndex(
    relational,
    { ...(await vector.identity!()), embedder: newModel.id },
    'rebind',
    1,
  );
  expect(outcome.kind).toBe('rebound');

  const next = await open('batch', newModel, data); // 'verify': the binding already names the new embedder
  await next.dw.checkIndex();
  await next.dw.flush();
  for (const r of filled)
    expect((await indexed(next.vector, r.id)).embedding).toEqual(f32((await newModel.embed([r.text]))[0]!));
  await next.dw.close();
});

/** `inner`, each call taking `ms` first (a model behind HTTP). */
function slow(inner: Embedder, ms: number): Embedder {
  return {
    id: inner.id,
    dimension: inner.dimension,
    maxBatchSize: inner.maxBatchSize,
    embed: async (texts) => {
      await new Promise((r) => setTimeout(r, ms));
      return inner.embed(texts);
    },
  };
}

describe.each(['sync-2pc', 'async-queue', 'batch'] as const)(
  'a rebind while the old embedder is running (%s)',
  (strategy) => {
    it('what the old embedder computes after the binding moved is neither stored nor indexed', async () => {
      const data = { relational: new MemoryRelationalData(), vector: new MemoryVectorData() };
      const stale = await open(strategy, slow(oldModel, 300), data);
      const writing = stale.dw.put({ id: 'x', text: 'embedded while the binding moves' }).then(
        () => 'written',
        (error: unknown) => error,
      );
      await new Promise((r) => setTimeout(r, 100)); // the old embedder is at work
      const rebinder = await open(strategy, newModel, data, 'rebind');
      const outcome = await writing;
      if (strategy === 'sync-2pc')
        expect(outcome, 'sync-2pc refuses the write').toMatchObject({ code: 'INDEX_BINDING' });
      else expect(outcome).toBe('written');
      await new Promise((r) => setTimeout(r, 400)); // the old delivery, if any, has finished
      await rebinder.dw.flush();
      const record = (await rebinder.relational.getRecords(['x'])).get('x');
      if (strategy === 'sync-2pc') expect(record).toBeUndefined();
      else {
        const want = f32((await newModel.embed([record!.text]))[0]!);
        expect(record!.embedding, 'stored').toEqual(want);
        expect((await indexed(rebinder.vector, 'x')).embedding, 'indexed').toEqual(want);
      }
      await Promise.all([stale.dw.close({ timeoutMs: 2_000 }), rebinder.dw.close()]);
    });
  },
);

it('an embedding the embedder filled for another dimension is filled again on delivery, not dead-lettered', async () => {
  const relational = new MemoryRelationalStore();
  const wide = new HashingEmbedder({ dimension: 2 * DIM });
  const dw = await createDualWrite({
    relational,
    vector: new MemoryVectorStore({ dimension: 2 * DIM }),
    embedder: wide,
    strategy: 'batch',
    delivery: { pollIntervalMs: 5 },
  });
  // What a delivery of the old, 8-d embedder left behind (it counts as the embedder's: the write gave none).
  const text = 'filled by the old embedder';
  await relational.transaction(async (tx) => {
    const version = await tx.nextVersion();
    await tx.writeRecord({
      id: 'old',
      text,
      embedding: oldModel.embedOne(text),
      metadata: {},
      version,
      deleted: false,
      contentHash: contentHash(text, {}, null),
      syncedVersion: null,
      now: 1,
    });
    await tx.enqueue('old', version, 'upsert', 1);
  });
  expect(await dw.flush()).toMatchObject({ pending: 0, deadLetters: 0 });
  expect((await relational.getRecords(['old'])).get('old')!.embedding).toEqual(f32(wide.embedOne(text)));
  await dw.close();
});

it('sync-2pc: a text another process changes between the pre-read and the prepare is embedded after it', async () => {
  /** Changes `x`'s text (as another process would) right after the first read of it. */
  class RacingStore extends MemoryRelationalStore {
    raced = false;
    override async getRecords(ids: readonly string[], options?: { includeDeleted?: boolean }) {
      const out = await super.getRecords(ids, options);
      if (!this.raced && ids.includes('x')) {
        this.raced = true;
        await this.transaction(async (tx) => {
          const version = await tx.nextVersion();
          await tx.writeRecord({
            id: 'x',
            text: 'changed by another process',
            embedding: null,
            metadata: {},
            version,
            deleted: false,
            contentHash: contentHash('changed by another process', {}, null),
            syncedVersion: null,
            now: 2,
          });
          await tx.enqueue('x', version, 'upsert', 2);
        });
      }
      return out;
    }
  }
  const relational = new RacingStore();
  const vector = new MemoryVectorStore({ dimension: DIM });
  const dw = await createDualWrite({ relational, vector, embedder: oldModel, strategy: 'sync-2pc' });
  await dw.put({ id: 'x', text: 'the text', embedding: given }); // no pre-read: it gives an embedding
  relational.raced = false;
  const result = await dw.put({ id: 'x', text: 'the text' }); // pre-read: unchanged → no embedding … then raced
  expect(result.changed).toBe(true);
  const record = (await relational.getRecords(['x'])).get('x')!;
  expect(record.text).toBe('the text');
  expect(record.embedding).toEqual(f32(oldModel.embedOne('the text')));
  expect(filledByEmbedder(record)).toBe(true);
  await dw.close();
});
