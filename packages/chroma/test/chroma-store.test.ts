/**
 * Chroma-specific behaviour of ChromaVectorStore against the real local server from global-setup.ts.
 */
import { ChromaClient } from 'chromadb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChromaVectorStore } from '../src/chroma-vector-store.js';
import { chromaUrl, dropCollection, openTestStore, record, uniqueCollection, vector } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function open(options: Parameters<typeof openTestStore>[0] = {}) {
  const fixture = await openTestStore(options);
  cleanups.push(fixture.cleanup);
  return fixture.store;
}

/** Counts requests whose path ends with `/<op>` (e.g. 'upsert') while `fn` runs. */
async function countRequests(op: string, fn: () => Promise<void>): Promise<number> {
  const spy = vi.spyOn(globalThis, 'fetch');
  await fn();
  const n = spy.mock.calls.filter(([input]) => {
    const url = input instanceof Request ? input.url : String(input);
    return new URL(url).pathname.endsWith(`/${op}`);
  }).length;
  spy.mockRestore();
  return n;
}

function rawClient(): ChromaClient {
  const u = new URL(chromaUrl());
  return new ChromaClient({ host: u.hostname, port: Number(u.port) });
}

describe('construction', () => {
  it('refuses `new` from JavaScript (the constructor is private to TypeScript only) and names open()', () => {
    const construct = ChromaVectorStore as unknown as new (options: object) => unknown;
    expect(() => new construct({ url: chromaUrl(), dimension: 3 })).toThrow(
      expect.objectContaining({
        code: 'VALIDATION',
        component: 'chroma',
        message: expect.stringContaining('open('),
      }),
    );
  });
});

describe('batch size', () => {
  // helper-46: a zero or 1e-30 vector was stored under cosine, ranked first with a score of 1.6, and every
  // reconcile found it mismatched; LanceDB refused it at the call.
  it('names a vector without a direction as a problem under cosine distance only', async () => {
    const cosine = await open();
    const l2 = await open({ distance: 'l2' });
    for (const embedding of [new Array<number>(8).fill(0), [1e-30, 0, 0, 0, 0, 0, 0, 0]]) {
      expect(cosine.embeddingProblem(embedding)).toMatch(/no direction/);
      expect(l2.embeddingProblem(embedding)).toBeUndefined();
    }
    expect(cosine.embeddingProblem(vector(1))).toBeUndefined();
  });

  it('reports the server max batch size from the pre-flight checks', async () => {
    const store = await open();
    expect(store.serverMaxBatchSize).toBeGreaterThan(0);
    expect(store.maxBatchSize).toBe(store.serverMaxBatchSize);
    const preflight = (await (await fetch(`${chromaUrl()}/api/v2/pre-flight-checks`)).json()) as {
      max_batch_size: number;
    };
    expect(store.serverMaxBatchSize).toBe(preflight.max_batch_size);
    console.log(`[chroma tests] server max_batch_size = ${store.serverMaxBatchSize}`);
  });

  it('an override can only lower the batch size', async () => {
    const low = await open({ maxBatchSize: 7 });
    expect(low.maxBatchSize).toBe(7);
    const high = await open({ maxBatchSize: 10_000_000 });
    expect(high.maxBatchSize).toBe(high.serverMaxBatchSize);
  });

  it('splits upsert, delete and getVersions at a lowered maxBatchSize', async () => {
    const store = await open({ maxBatchSize: 100 });
    const records = Array.from({ length: 1_050 }, (_, i) => record(`r${i}`, i, { version: i + 1 }));
    expect(await countRequests('upsert', () => store.upsert(records))).toBe(11);
    expect(await store.count()).toBe(1_050);
    let versions = new Map<string, number>();
    expect(
      await countRequests('get', async () => {
        versions = await store.getVersions(records.map((r) => r.id));
      }),
    ).toBe(11);
    expect(versions.size).toBe(1_050);
    expect(versions.get('r1049')).toBe(1_050);
    expect(await countRequests('delete', () => store.delete(records.slice(0, 1_000).map((r) => r.id)))).toBe(
      10,
    );
    expect(await store.count()).toBe(50);
  });

  it('upserts 20,000 records (dimension 8) in one call, more than 3x the server limit', async () => {
    const store = await open();
    const n = 20_000;
    const records = Array.from({ length: n }, (_, i) =>
      record(`big-${i}`, i, { version: i + 1, text: `doc ${i}`, metadata: { bucket: i % 10 } }),
    );
    const started = Date.now();
    const requests = await countRequests('upsert', () => store.upsert(records));
    const upsertMs = Date.now() - started;
    expect(requests).toBe(Math.ceil(n / store.maxBatchSize));
    expect(await store.count()).toBe(n);
    const versions = await store.getVersions(records.map((r) => r.id));
    expect(versions.size).toBe(n);
    expect(versions.get(`big-${n - 1}`)).toBe(n);
    const hits = await store.query(records[12_345]!.embedding, { k: 3, filter: { bucket: 5 } });
    expect(hits[0]?.id).toBe('big-12345');
    console.log(`[chroma tests] upsert of ${n} records: ${upsertMs} ms in ${requests} requests`);
  }, 120_000);
});

describe('duplicates and ids', () => {
  it('collapses duplicate ids, last wins, also across what would be different chunks', async () => {
    const store = await open({ maxBatchSize: 2 });
    const a1 = record('a', 1, { text: 'first', metadata: { pos: 1, only_first: true }, version: 5 });
    const b = record('b', 2);
    const c = record('c', 3);
    const a2 = record('a', 4, { text: 'last', metadata: { pos: 2 }, version: 4 });
    expect(await countRequests('upsert', () => store.upsert([a1, b, c, a2, a2]))).toBe(2);
    expect(await store.count()).toBe(3);
    expect((await store.getVersions(['a'])).get('a')).toBe(4);
    const hit = (await store.query(a2.embedding, { k: 1 }))[0]!;
    expect(hit).toMatchObject({ id: 'a', text: 'last', metadata: { pos: 2 }, version: 4 });
  });

  it('nasty ids round-trip and delete only themselves', async () => {
    const store = await open();
    const ids = [
      "it's",
      'say "hi"',
      "'; DELETE FROM embeddings; --",
      '1 OR 1=1',
      '#document',
      '$and',
      '{"$in":["a"]}',
      'slash/and\\back',
      'ü 🙂 中文 \u200b zero-width',
      'x'.repeat(512),
      ' ',
    ];
    await store.upsert(ids.map((id, i) => record(id, i, { version: i + 1 })));
    expect(await store.count()).toBe(ids.length);
    const versions = await store.getVersions(ids);
    for (const [i, id] of ids.entries()) expect(versions.get(id), id).toBe(i + 1);
    await store.delete(["'; DELETE FROM embeddings; --", '$and']);
    expect(await store.count()).toBe(ids.length - 2);
    const left = await store.getVersions(ids);
    expect(left.has('$and')).toBe(false);
    expect(left.has('1 OR 1=1')).toBe(true);
    expect(left.has('#document')).toBe(true);
  });
});

describe('metadata', () => {
  it.each([
    ['null', null, 'records[1].metadata.bad'],
    ['an array', ['x', 'y'], 'records[1].metadata.bad'],
    ['a nested object', { deep: 1 }, 'records[1].metadata.bad'],
    ['undefined', undefined, 'records[1].metadata.bad'],
    ['NaN', Number.NaN, 'records[1].metadata.bad'],
    ['a bigint', 10n, 'records[1].metadata.bad'],
  ])(
    'rejects %s with a ValidationError naming the field before sending anything',
    async (_label, bad, field) => {
      const store = await open();
      await store.upsert([record('existing', 1)]);
      const batch = [
        record('new-1', 2),
        record('bad-one', 3, { metadata: { ok: 1, bad } as never }),
        record('n2', 4),
      ];
      const spy = vi.spyOn(globalThis, 'fetch');
      const error = await store.upsert(batch).catch((e: unknown) => e);
      const sent = spy.mock.calls.length;
      spy.mockRestore();
      expect(error).toMatchObject({ name: 'ValidationError', code: 'VALIDATION', field, retryable: false });
      expect((error as Error).message).toContain('[chroma]');
      expect(sent, 'no request was sent').toBe(0);
      expect(await store.count()).toBe(1);
    },
  );

  it.each([
    ['#hash', 'records[0].metadata.#hash'],
    ['$dollar', 'records[0].metadata.$dollar'],
    ['_dw_version', 'records[0].metadata._dw_version'],
    // Not refused by the server: silently dropped from what it stores (read back without it).
    ['chroma:document', 'records[0].metadata.chroma:document'],
  ])('rejects the reserved key %s', async (key, field) => {
    const store = await open();
    await expect(store.upsert([record('k', 1, { metadata: { [key]: 1 } })])).rejects.toMatchObject({
      code: 'VALIDATION',
      field,
    });
    expect(await store.count()).toBe(0);
  });

  it('a filter on a number Chroma cannot parse in a where clause (2^63 .. 2^64) is refused at the call', async () => {
    const store = await open();
    await store.upsert([record('big', 1, { metadata: { n: 1e19 } })]);
    for (const n of [2 ** 63, 1e19, 2 ** 64 - 4096])
      await expect(store.query(vector(1), { k: 1, filter: { n } }), String(n)).rejects.toMatchObject({
        code: 'VALIDATION',
        field: 'options.filter.n',
      });
    expect(
      (await store.query(vector(1), { k: 1, filter: { n: 2 ** 64 } })).length,
      '2^64 still filters',
    ).toBe(0);
  });

  it('rejects a non-integer or negative version', async () => {
    const store = await open();
    for (const version of [1.5, -1, Number.NaN])
      await expect(store.upsert([record('v', 1, { version })])).rejects.toMatchObject({
        code: 'VALIDATION',
        field: 'records[0].version',
      });
  });

  it('replaces metadata on re-upsert: keys missing from the new version are removed from Chroma', async () => {
    const store = await open();
    await store.upsert([record('m', 1, { metadata: { a: 1, b: 'two', c: true }, version: 1 })]);
    await store.upsert([record('m', 1, { metadata: { b: 'new' }, version: 2 })]);
    const collection = await rawClient().getCollection({ name: store.collectionName });
    const raw = await collection.get({ ids: ['m'], include: ['metadatas'] });
    expect(raw.metadatas[0]).toStrictEqual({ b: 'new', _dw_version: 2 });
    // Filtering on a removed key no longer matches.
    expect(await store.query(vector(1), { k: 5, filter: { a: 1 } })).toStrictEqual([]);
  });

  it('stores the version under _dw_version and the text as the Chroma document', async () => {
    const store = await open();
    await store.upsert([record('doc', 1, { text: 'hello chroma', metadata: { lang: 'en' }, version: 42 })]);
    const collection = await rawClient().getCollection({ name: store.collectionName });
    const raw = await collection.get({ ids: ['doc'], include: ['metadatas', 'documents'] });
    expect(raw.documents[0]).toBe('hello chroma');
    expect(raw.metadatas[0]).toStrictEqual({ lang: 'en', _dw_version: 42 });
  });
});

describe('query, scores and distance', () => {
  it('cosine: score = 1 - distance, best first', async () => {
    const store = await open();
    await store.upsert([
      record('x', 0, { embedding: [1, 0, 0, 0, 0, 0, 0, 0] }),
      record('y', 0, { embedding: [0, 1, 0, 0, 0, 0, 0, 0] }),
      record('xy', 0, { embedding: [1, 1, 0, 0, 0, 0, 0, 0] }),
    ]);
    const hits = await store.query([1, 0, 0, 0, 0, 0, 0, 0], { k: 3 });
    expect(hits.map((h) => h.id)).toStrictEqual(['x', 'xy', 'y']);
    for (const h of hits) expect(h.score).toBeCloseTo(1 - h.distance, 6);
    expect(hits[0]!.score).toBeCloseTo(1, 5);
    expect(hits[1]!.score).toBeCloseTo(Math.SQRT1_2, 5);
    expect(hits[2]!.score).toBeCloseTo(0, 5);
  });

  it('l2: distance is squared Euclidean, score = -distance', async () => {
    const store = await open({ distance: 'l2' });
    await store.upsert([record('p', 0, { embedding: [3, 4, 0, 0, 0, 0, 0, 0] })]);
    const [hit] = await store.query([0, 0, 0, 0, 0, 0, 0, 0], { k: 1 });
    expect(hit!.distance).toBeCloseTo(25, 4);
    expect(hit!.score).toBeCloseTo(-25, 4);
  });

  it('ip: score = 1 - distance = dot product', async () => {
    const store = await open({ distance: 'ip' });
    await store.upsert([record('p', 0, { embedding: [0.5, 0.25, 0, 0, 0, 0, 0, 0] })]);
    const [hit] = await store.query([1, 2, 0, 0, 0, 0, 0, 0], { k: 1 });
    expect(hit!.score).toBeCloseTo(1, 5);
  });

  it('refuses an existing collection created with another distance', async () => {
    const collection = uniqueCollection('dist');
    cleanups.push(() => dropCollection(chromaUrl(), collection));
    const l2 = await ChromaVectorStore.open({ url: chromaUrl(), collection, dimension: 8, distance: 'l2' });
    await l2.upsert([record('a', 1)]);
    const cosine = await ChromaVectorStore.open({ url: chromaUrl(), collection, dimension: 8 });
    await expect(cosine.count()).rejects.toMatchObject({ code: 'VALIDATION', field: 'options.distance' });
  });

  it('maps a dimension mismatch reported by the server to DimensionMismatchError', async () => {
    const collection = uniqueCollection('dim');
    cleanups.push(() => dropCollection(chromaUrl(), collection));
    // Both open the collection while it is empty; the 4-d rows come after the 8-d store looked.
    const eight = await ChromaVectorStore.open({ url: chromaUrl(), collection, dimension: 8 });
    const four = await ChromaVectorStore.open({ url: chromaUrl(), collection, dimension: 4 });
    await four.upsert([{ id: 'a', embedding: [1, 0, 0, 0], text: '', metadata: {}, version: 1 }]);
    await expect(eight.upsert([record('b', 1)])).rejects.toMatchObject({
      code: 'DIMENSION_MISMATCH',
      expected: 4,
      actual: 8,
      retryable: false,
    });
    // A store that first looks at the collection once it holds rows of another dimension: refused at its
    // first call (createDualWrite's binding check is one), before any write.
    const late = await ChromaVectorStore.open({ url: chromaUrl(), collection, dimension: 8 });
    await expect(late.count()).rejects.toMatchObject({ code: 'DIMENSION_MISMATCH', expected: 4, actual: 8 });
  });

  it('validates k, the filter and the listIds cursor', async () => {
    const store = await open();
    await expect(store.query(vector(1), { k: 0 })).rejects.toMatchObject({ field: 'options.k' });
    await expect(store.query(vector(1), { k: 1001 })).rejects.toMatchObject({ field: 'options.k' });
    await expect(store.query(vector(1), { k: 1, filter: { a: null as never } })).rejects.toMatchObject({
      field: 'options.filter.a',
    });
    await expect(store.query(vector(1), { k: 1, filter: { $or: 1 } })).rejects.toMatchObject({
      field: 'options.filter.$or',
    });
    await expect(store.listIds({ limit: 5, cursor: 'abc' })).rejects.toMatchObject({
      field: 'options.cursor',
    });
    await expect(store.listIds({ limit: 0 })).rejects.toMatchObject({ field: 'options.limit' });
  });

  it('recreates the collection when it was deleted behind its back', async () => {
    const store = await open();
    await store.upsert([record('a', 1)]);
    await dropCollection(chromaUrl(), store.collectionName);
    await store.upsert([record('b', 2)]);
    expect(await store.count()).toBe(1);
  });
});
