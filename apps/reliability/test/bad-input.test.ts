/**
 * Bad input through the library API (the facade) over real stores, for every strategy × vector backend: each
 * row gets a typed error naming the field (and the limit, where there is one) or a documented success —
 * never a crash, never a partially applied batch, never a change to records already accepted.
 * (The HTTP half of this matrix belongs to apps/demo-api.)
 */
import { join } from 'node:path';
import { ChromaVectorStore } from '@dualwrite/chroma';
import {
  createDualWrite,
  DimensionMismatchError,
  type DualWrite,
  DualwriteError,
  HashingEmbedder,
  type MetadataFilter,
  type RecordInput,
  STRATEGY_NAMES,
  type StrategyName,
  ValidationError,
  type VectorStore,
  verifyConsistency,
} from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { VectorBackendName } from '../src/protocol.js';
import { DIM, FAST, tempDir } from './helpers.js';

const MiB = 1024 * 1024;
const embedder = new HashingEmbedder({ dimension: DIM });
const emb = (seed = 1) => embedder.embedOne(`embedding ${seed}`);
const withNaN = (i: number, value: number) => {
  const e = emb();
  e[i] = value;
  return e;
};
const manyKeys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));

/** What a row expects. */
/** ValidationError or a subclass. */
type ValidationErrorClass = abstract new (...args: never[]) => ValidationError;

type Expectation =
  | {
      error: ValidationErrorClass;
      code: 'VALIDATION' | 'DIMENSION_MISMATCH';
      field: string;
      /** Text the message must contain besides the field (usually the limit). */
      mentions?: string[];
    }
  | { ok: (result: unknown, ctx: Ctx) => Promise<void> | void };

interface Ctx {
  dw: DualWrite;
  relational: SqliteRelationalStore;
  vector: VectorStore;
  strategy: StrategyName;
  backend: VectorBackendName;
}

interface Row {
  name: string;
  call: (dw: DualWrite) => Promise<unknown>;
  /** Ids the call would write if it were (wrongly) applied. */
  ids?: string[];
  expect: Expectation | ((ctx: Ctx) => Expectation);
}

const put = (record: unknown) => (dw: DualWrite) => dw.putMany([record as RecordInput]);
const rejects = (
  field: string,
  mentions: string[] = [],
  error: ValidationErrorClass = ValidationError,
  code: 'VALIDATION' | 'DIMENSION_MISMATCH' = 'VALIDATION',
): Expectation => ({ error, code, field, mentions });
const dimension = (field: string, got: number) =>
  rejects(
    field,
    [`expected ${DIM} dimensions, got ${got}`, `length === ${DIM}`],
    DimensionMismatchError,
    'DIMENSION_MISMATCH',
  );

/** A successful put: the record reads back exactly as written. */
const roundTrips = (record: RecordInput): Expectation => ({
  ok: async (_result, { dw }) => {
    const stored = await dw.get(record.id);
    expect(stored, `get(${JSON.stringify(record.id)})`).toBeDefined();
    expect(stored!.text).toBe(record.text);
    expect(stored!.metadata).toEqual(record.metadata ?? {});
  },
});

const TRICKY_IDS = [
  "a'b",
  'a"b',
  "'; DROP TABLE dw_records; --",
  "seed-0' OR '1'='1",
  "id IN ('seed-1')",
  '%_*?[]{}$where',
  'back\\slash\\',
  'new\nline\ttab',
  ' leading and trailing spaces ',
  '😀🎉 emoji',
  '中文-ключ-العربية',
  'rtl\u202eoverride',
  'e\u0301 combining',
];

const rows: Row[] = [
  // embeddings
  {
    name: 'embedding of the wrong dimension (15)',
    ids: ['e1'],
    call: put({ id: 'e1', text: 't', embedding: emb().slice(1) }),
    expect: dimension('records[0].embedding', 15),
  },
  {
    name: 'embedding of the wrong dimension (17)',
    ids: ['e2'],
    call: put({ id: 'e2', text: 't', embedding: [...emb(), 0] }),
    expect: dimension('records[0].embedding', 17),
  },
  {
    name: 'empty embedding',
    ids: ['e3'],
    call: put({ id: 'e3', text: 't', embedding: [] }),
    expect: dimension('records[0].embedding', 0),
  },
  {
    name: 'NaN in the embedding',
    ids: ['e4'],
    call: put({ id: 'e4', text: 't', embedding: withNaN(3, Number.NaN) }),
    expect: rejects('records[0].embedding[3]', ['finite number']),
  },
  {
    name: 'Infinity in the embedding',
    ids: ['e5'],
    call: put({ id: 'e5', text: 't', embedding: withNaN(0, Number.POSITIVE_INFINITY) }),
    expect: rejects('records[0].embedding[0]', ['finite number']),
  },
  {
    name: '-Infinity in the embedding',
    ids: ['e6'],
    call: put({ id: 'e6', text: 't', embedding: withNaN(15, Number.NEGATIVE_INFINITY) }),
    expect: rejects('records[0].embedding[15]', ['finite number']),
  },
  {
    name: 'embedding that is a string',
    ids: ['e7'],
    call: put({ id: 'e7', text: 't', embedding: 'nope' }),
    expect: rejects('records[0].embedding', ['array of numbers']),
  },
  {
    name: 'embedding with a string component',
    ids: ['e8'],
    call: put({ id: 'e8', text: 't', embedding: ['1', ...emb().slice(1)] }),
    expect: rejects('records[0].embedding[0]', ['finite number']),
  },
  {
    // Chroma stored it, ranked it above real matches and read back other values (helper-46).
    name: 'an all-zero embedding: refused under cosine, where LanceDB never finds it and Chroma misranks it',
    ids: ['zero'],
    call: put({ id: 'zero', text: 'zero', embedding: new Array(DIM).fill(0) }),
    expect: ({ backend }) =>
      rejects('records[0].embedding', [
        'has no direction',
        backend === 'lancedb' ? "'l2' or 'dot'" : "'l2' or 'ip'",
      ]),
  },
  {
    name: 'a Float32Array embedding is accepted',
    call: put({ id: 'f32', text: 'f32', embedding: Float32Array.from(emb(5)) }),
    expect: roundTrips({ id: 'f32', text: 'f32' }),
  },
  // text
  {
    name: 'empty text is accepted',
    call: put({ id: 'empty-text', text: '' }),
    expect: roundTrips({ id: 'empty-text', text: '' }),
  },
  {
    name: 'text of exactly 1 MiB is accepted',
    call: put({ id: 'mib', text: 'a'.repeat(MiB) }),
    expect: roundTrips({ id: 'mib', text: 'a'.repeat(MiB) }),
  },
  {
    name: 'text one byte over 1 MiB',
    ids: ['mib1'],
    call: put({ id: 'mib1', text: 'a'.repeat(MiB + 1) }),
    expect: rejects('records[0].text', [`${MiB + 1} bytes`, `<= ${MiB} bytes`]),
  },
  {
    name: 'multi-byte text over 1 MiB in bytes (not in characters)',
    ids: ['mib2'],
    call: put({ id: 'mib2', text: 'é'.repeat(MiB / 2 + 1) }),
    expect: rejects('records[0].text', [`${MiB + 2} bytes`, `<= ${MiB} bytes`]),
  },
  {
    name: 'text with a lone surrogate',
    ids: ['ls'],
    call: put({ id: 'ls', text: 'a\uD800b' }),
    expect: rejects('records[0].text', ['surrogate']),
  },
  {
    name: 'text that is a number',
    ids: ['tn'],
    call: put({ id: 'tn', text: 42 }),
    expect: rejects('records[0].text', ['must be a string']),
  },
  {
    name: 'text missing',
    ids: ['tm'],
    call: put({ id: 'tm' }),
    expect: rejects('records[0].text', ['must be a string']),
  },
  // metadata
  {
    name: '64 metadata keys are accepted',
    call: put({ id: 'keys64', text: 't', metadata: manyKeys(64) }),
    expect: roundTrips({ id: 'keys64', text: 't', metadata: manyKeys(64) }),
  },
  {
    name: '65 metadata keys',
    ids: ['keys65'],
    call: put({ id: 'keys65', text: 't', metadata: manyKeys(65) }),
    expect: rejects('records[0].metadata', ['65 keys', '<= 64 keys']),
  },
  {
    name: 'metadata over 16 KiB as JSON',
    ids: ['big-meta'],
    call: put({ id: 'big-meta', text: 't', metadata: { blob: 'x'.repeat(16_384) } }),
    expect: rejects('records[0].metadata', ['bytes as JSON', '<= 16384 bytes']),
  },
  {
    name: 'nested metadata object',
    ids: ['nested'],
    call: put({ id: 'nested', text: 't', metadata: { a: { b: 1 } } }),
    expect: rejects('records[0].metadata.a', ['string | finite number | boolean']),
  },
  {
    name: 'null metadata value',
    ids: ['nullv'],
    call: put({ id: 'nullv', text: 't', metadata: { a: null } }),
    expect: rejects('records[0].metadata.a', ['got null']),
  },
  {
    name: 'array metadata value',
    ids: ['arrv'],
    call: put({ id: 'arrv', text: 't', metadata: { tags: ['a', 'b'] } }),
    expect: rejects('records[0].metadata.tags', ['got an array']),
  },
  {
    name: 'metadata that is null',
    ids: ['mnull'],
    call: put({ id: 'mnull', text: 't', metadata: null }),
    expect: rejects('records[0].metadata', ['plain object', 'got null']),
  },
  {
    name: 'metadata that is an array',
    ids: ['marr'],
    call: put({ id: 'marr', text: 't', metadata: [1] }),
    expect: rejects('records[0].metadata', ['plain object', 'got an array']),
  },
  {
    name: 'metadata that is a Map (it would be stored as {})',
    ids: ['mmap'],
    call: put({ id: 'mmap', text: 't', metadata: new Map([['k', 'v']]) }),
    expect: rejects('records[0].metadata', ['plain object', 'got a Map']),
  },
  {
    name: 'a misspelled record field (metdata)',
    ids: ['mtypo'],
    call: put({ id: 'mtypo', text: 't', metdata: { k: 'v' } }),
    expect: rejects('records[0].metdata', ['did you mean "metadata"']),
  },
  {
    name: "another library's name for the embedding (vector)",
    ids: ['mvec'],
    call: put({ id: 'mvec', text: 't', vector: emb(3) }),
    expect: rejects('records[0].vector', ['did you mean "embedding"']),
  },
  {
    name: 'NaN metadata value',
    ids: ['mnan'],
    call: put({ id: 'mnan', text: 't', metadata: { n: Number.NaN } }),
    expect: rejects('records[0].metadata.n', ['finite number']),
  },
  {
    name: 'empty metadata key',
    ids: ['mek'],
    call: put({ id: 'mek', text: 't', metadata: { '': 1 } }),
    expect: rejects('records[0].metadata', ['key length >= 1']),
  },
  {
    name: 'metadata key of 129 characters',
    ids: ['mlk'],
    call: put({ id: 'mlk', text: 't', metadata: { ['k'.repeat(129)]: 1 } }),
    expect: rejects(`records[0].metadata.${'k'.repeat(129)}`, ['key length <= 128']),
  },
  {
    name: 'reserved metadata key _dw_version',
    ids: ['mres'],
    call: put({ id: 'mres', text: 't', metadata: { _dw_version: 1 } }),
    expect: rejects('records[0].metadata._dw_version', ['reserved']),
  },
  {
    name: '__proto__ metadata key: kept as data, or refused where Chroma would drop it',
    ids: ['proto'],
    call: put({ id: 'proto', text: 't', metadata: JSON.parse('{"__proto__":"x","a":1}') }),
    expect: ({ backend }) =>
      backend === 'chroma'
        ? rejects('records[0].metadata.__proto__', ["dropped by Chroma's JavaScript client"])
        : roundTrips({ id: 'proto', text: 't', metadata: JSON.parse('{"__proto__":"x","a":1}') }),
  },
  {
    name: 'metadata with quotes, metacharacters, unicode and edge numbers round-trips and filters',
    call: put({
      id: 'meta-edge',
      text: 'meta edge',
      metadata: {
        'k\'"; --': "v' OR '1'='1",
        'a.b': -0,
        big: 1e20,
        tiny: 5e-324,
        uni: 'ключ 中文 😀',
        t: true,
      },
    }),
    expect: {
      ok: async (_r, { dw }) => {
        const stored = await dw.get('meta-edge');
        expect(stored!.metadata).toEqual({
          'k\'"; --': "v' OR '1'='1",
          'a.b': 0,
          big: 1e20,
          tiny: 5e-324,
          uni: 'ключ 中文 😀',
          t: true,
        });
        await dw.flush();
        const filters: MetadataFilter[] = [
          { 'k\'"; --': "v' OR '1'='1" },
          { big: 1e20 },
          { uni: 'ключ 中文 😀' },
          { t: true },
        ];
        for (const filter of filters) {
          const hits = await dw.search('meta edge', { k: 5, filter });
          expect(
            hits.map((h) => h.id),
            JSON.stringify(filter),
          ).toEqual(['meta-edge']);
        }
      },
    },
  },
  {
    name: "metadata key starting with '#' (Chroma-reserved)",
    ids: ['hash-key'],
    call: put({ id: 'hash-key', text: 't', metadata: { '#tag': 'x' } }),
    expect: ({ backend }) => {
      // Refused at put under every strategy on Chroma (never accepted and dead-lettered later).
      if (backend === 'chroma') return rejects('records[0].metadata.#tag', ['reserved by Chroma']);
      return {
        ok: async (_r, { dw }) => {
          await dw.flush();
          expect((await dw.syncStatus('hash-key')).state).toBe('synced');
        },
      };
    },
  },
  // ids
  {
    name: 'empty id',
    ids: [''],
    call: put({ id: '', text: 't' }),
    expect: rejects('records[0].id', ['length >= 1']),
  },
  {
    name: 'id of 512 characters is accepted',
    call: put({ id: 'i'.repeat(512), text: 't' }),
    expect: roundTrips({ id: 'i'.repeat(512), text: 't' }),
  },
  {
    name: 'id of 513 characters',
    ids: ['j'.repeat(513)],
    call: put({ id: 'j'.repeat(513), text: 't' }),
    expect: rejects('records[0].id', ['513 UTF-16 code units', 'length <= 512']),
  },
  {
    name: 'id with NUL',
    ids: ['a\u0000b'],
    call: put({ id: 'a\u0000b', text: 't' }),
    expect: rejects('records[0].id', ['NUL']),
  },
  {
    name: 'id with a lone surrogate',
    ids: ['a\uDC00'],
    call: put({ id: 'a\uDC00', text: 't' }),
    expect: rejects('records[0].id', ['surrogate']),
  },
  {
    name: 'id that is a number',
    call: put({ id: 7, text: 't' }),
    expect: rejects('records[0].id', ['must be a string']),
  },
  ...TRICKY_IDS.map(
    (id): Row => ({
      name: `id ${JSON.stringify(id)} round-trips (get, search, delete touch exactly it)`,
      call: put({ id, text: `tricky ${id}` }),
      expect: {
        ok: async (_r, { dw, vector }) => {
          expect((await dw.get(id))?.text).toBe(`tricky ${id}`);
          await dw.flush();
          expect((await vector.getVersions([id])).has(id)).toBe(true);
          const hits = await dw.search(`tricky ${id}`, { k: 50 });
          expect(hits.map((h) => h.id)).toContain(id);
          expect(await dw.delete(id)).toMatchObject({ id, changed: true });
          await dw.flush();
          expect(await dw.get(id)).toBeUndefined();
          expect((await vector.getVersions([id])).has(id)).toBe(false);
        },
      },
    }),
  ),
  // batches
  {
    name: 'duplicate ids in one batch: the last one wins',
    call: (dw) =>
      dw.putMany([
        { id: 'dup', text: 'first' },
        { id: 'other', text: 'o' },
        { id: 'dup', text: 'last' },
      ]),
    expect: { ok: async (_r, { dw }) => expect((await dw.get('dup'))?.text).toBe('last') },
  },
  {
    name: 'a batch with one bad record (index 3) writes nothing',
    ids: ['b0', 'b1', 'b2', 'b3', 'b4'],
    call: (dw) =>
      dw.putMany(
        ['b0', 'b1', 'b2', 'b3', 'b4'].map((id, i) => ({
          id,
          text: id,
          ...(i === 3 && { embedding: withNaN(0, Number.NaN) }),
        })),
      ),
    expect: rejects('records[3].embedding[0]', ['finite number']),
  },
  {
    name: 'a batch with a bad id at index 2 writes nothing',
    ids: ['c0', 'c1'],
    call: (dw) =>
      dw.putMany([
        { id: 'c0', text: 'c' },
        { id: 'c1', text: 'c' },
        { id: '', text: 'c' },
      ]),
    expect: rejects('records[2].id', ['length >= 1']),
  },
  {
    name: 'an empty batch is a no-op',
    call: (dw) => dw.putMany([]),
    expect: { ok: (r) => expect(r).toEqual([]) },
  },
  {
    name: 'a batch of 10,001 records',
    ids: ['r-0'],
    call: (dw) => dw.putMany(Array.from({ length: 10_001 }, (_, i) => ({ id: `r-${i}`, text: 'r' }))),
    expect: rejects('records', ['10001 records', '<= 10000 records']),
  },
  {
    name: 'records that are not an array',
    call: (dw) => dw.putMany('nope' as never),
    expect: rejects('records', ['must be an array']),
  },
  { name: 'a record that is null', call: put(null), expect: rejects('records[0]', ['must be an object']) },
  // unknown ids, get / delete
  {
    name: 'get of an unknown id',
    call: (dw) => dw.get('never-written'),
    expect: { ok: (r) => expect(r).toBeUndefined() },
  },
  {
    name: 'delete of an unknown id is a no-op',
    call: (dw) => dw.delete('never-written'),
    expect: { ok: (r) => expect(r).toEqual({ id: 'never-written', version: null, changed: false }) },
  },
  {
    name: 'syncStatus of an unknown id',
    call: (dw) => dw.syncStatus('never-written'),
    expect: { ok: (r) => expect(r).toEqual({ id: 'never-written', state: 'absent' }) },
  },
  {
    name: 'deleteMany with a bad id at index 1 deletes nothing',
    call: (dw) => dw.deleteMany(['seed-0', '']),
    expect: rejects('ids[1]', ['length >= 1']),
  },
  { name: 'get with an empty id', call: (dw) => dw.get(''), expect: rejects('id', ['length >= 1']) },
  // search
  { name: 'search with k = 0', call: (dw) => dw.search('x', { k: 0 }), expect: rejects('k', ['1..1000']) },
  {
    name: 'search with k = 1001',
    call: (dw) => dw.search('x', { k: 1001 }),
    expect: rejects('k', ['1..1000']),
  },
  {
    name: 'search with a fractional k',
    call: (dw) => dw.search('x', { k: 1.5 }),
    expect: rejects('k', ['1..1000']),
  },
  {
    name: 'search with a query of the wrong dimension',
    call: (dw) => dw.search(emb().slice(2), { k: 1 }),
    expect: dimension('embedding', 14),
  },
  {
    name: 'search with NaN in the query',
    call: (dw) => dw.search(withNaN(0, Number.NaN), { k: 1 }),
    expect: rejects('embedding[0]', ['finite number']),
  },
  {
    name: 'search with a nested filter value',
    call: (dw) => dw.search('x', { k: 1, filter: { a: { b: 1 } } as never }),
    expect: rejects('filter.a', ['string | finite number | boolean']),
  },
];

const BASELINE = Array.from({ length: 5 }, (_, i) => ({
  id: `seed-${i}`,
  text: `seed record ${i}`,
  metadata: { i },
}));

describe.each(
  STRATEGY_NAMES.flatMap((strategy) =>
    (['lancedb', 'chroma'] as const).map((backend) => ({ strategy, backend })),
  ),
)('bad input through the facade: $strategy × $backend', ({ strategy, backend }) => {
  let ctx: Ctx;
  let remove: () => Promise<void>;
  let baseline: Map<string, number>;

  beforeAll(async () => {
    const t = await tempDir('dualwrite-bad-input-');
    remove = t.remove;
    const relational = new SqliteRelationalStore({ path: join(t.dir, 'source.db') });
    const vector: VectorStore =
      backend === 'lancedb'
        ? await LanceDbVectorStore.open({ uri: join(t.dir, 'lance'), dimension: DIM })
        : await ChromaVectorStore.open({
            url: inject('chromaUrl'),
            collection: `bad-input-${strategy}-${Date.now()}`,
            dimension: DIM,
          });
    const dw = await createDualWrite({ relational, vector, embedder, strategy, delivery: FAST });
    ctx = { dw, relational, vector, strategy, backend };
    const results = await dw.putMany(BASELINE);
    baseline = new Map(results.map((r) => [r.id, r.version!]));
    await dw.flush();
  });

  afterAll(async () => {
    // Whatever the matrix did, the index equals the source of truth, and the accepted records are intact.
    const flushed = await ctx.dw.flush({ timeoutMs: 30_000 });
    expect(flushed.deadLetters).toBe(0);
    const report = await verifyConsistency(ctx.relational, ctx.vector);
    expect(report, JSON.stringify(report.examples)).toMatchObject({
      lost: 0,
      stale: 0,
      mismatched: 0,
      orphans: 0,
    });
    await ctx.dw.close({ drain: false });
    await remove();
  });

  it.each(rows)('$name', async (row) => {
    const { dw, relational } = ctx;
    const before = { count: await relational.countRecords(), depth: (await dw.stats()).outboxDepth };
    const expectation = typeof row.expect === 'function' ? row.expect(ctx) : row.expect;
    let result: unknown;
    let error: unknown;
    try {
      result = await row.call(dw);
    } catch (e) {
      error = e;
    }
    if ('error' in expectation) {
      expect(error, 'a typed error').toBeInstanceOf(expectation.error);
      expect(error).toBeInstanceOf(DualwriteError);
      const e = error as ValidationError;
      expect({ code: e.code, field: e.field, retryable: e.retryable }).toEqual({
        code: expectation.code,
        field: expectation.field,
        retryable: false,
      });
      expect(e.message).toContain(`invalid ${expectation.field}:`);
      for (const m of expectation.mentions ?? []) expect(e.message).toContain(m);
      // Nothing was written: no row, no outbox entry, no id from the call.
      expect(await relational.countRecords()).toBe(before.count);
      expect((await dw.stats()).outboxDepth).toBe(before.depth);
      if (row.ids) expect((await relational.getRecords(row.ids, { includeDeleted: true })).size).toBe(0);
    } else {
      expect(error, 'documented success').toBeUndefined();
      await expectation.ok(result, ctx);
    }
    // Records accepted earlier are untouched.
    const seeds = await relational.getRecords([...baseline.keys()]);
    for (const { id, text } of BASELINE) {
      expect(seeds.get(id)?.version, id).toBe(baseline.get(id));
      expect(seeds.get(id)?.text, id).toBe(text);
    }
  });
});

/** An embedder that returns a zero vector for one text (a real model can, for an empty or all-stopword input). */
class ZeroForOneText extends HashingEmbedder {
  override async embed(texts: readonly string[]): Promise<number[][]> {
    const out = await super.embed(texts);
    return out.map((v, i) => (texts[i] === 'nothing to embed' ? v.map(() => 0) : v));
  }
}

// helper-46: a zero vector given by the caller was refused at the call, but the same vector from the embedder was
// indexed: `syncStatus` said synced and no search could ever find the record.
describe.each(STRATEGY_NAMES)('a vector the index cannot search, from the embedder: %s', (strategy) => {
  it('is refused in the call (sync-2pc) or dead-lettered naming the embedder; never indexed as synced', async () => {
    const t = await tempDir('dualwrite-zero-embedding-');
    const relational = new SqliteRelationalStore({ path: join(t.dir, 'source.db') });
    const vector = await LanceDbVectorStore.open({ uri: join(t.dir, 'lance'), dimension: DIM });
    const zeroing = new ZeroForOneText({ dimension: DIM });
    const dw = await createDualWrite({ relational, vector, embedder: zeroing, strategy, delivery: FAST });
    try {
      const put = dw.putMany([
        { id: 'ok', text: 'something to embed', metadata: {} },
        { id: 'zero', text: 'nothing to embed', metadata: {} },
      ]);
      if (strategy === 'sync-2pc') {
        const error = await put.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ValidationError);
        expect(error).toMatchObject({ field: `embedder(${zeroing.id})`, retryable: false });
        expect((error as Error).message).toContain('"zero"');
        expect(await relational.countRecords(), 'nothing written').toBe(0);
      } else {
        await put;
        const flushed = await dw.flush({ timeoutMs: 20_000 });
        expect(flushed.deadLetters).toBe(1);
        const [dead] = await relational.listDeadLetters({ limit: 10 });
        expect(dead).toMatchObject({ recordId: 'zero' });
        expect(dead!.lastError).toContain(`embedder(${zeroing.id})`);
        expect([...(await vector.getVersions(['ok', 'zero'])).keys()], 'the other record is indexed').toEqual(
          ['ok'],
        );
        expect((await dw.syncStatus('zero')).state).not.toBe('synced');
      }
    } finally {
      await dw.close({ drain: false });
      await t.remove();
    }
  });
});

// helper-46: with `limits.maxTextBytes` raised, a 40 MiB text was accepted and then dead-lettered on Chroma (HTTP
// 413 from its payload limit), or failed a sync-2pc put after 41 s.
describe.each(STRATEGY_NAMES)(
  'a record raised limits let through, above what Chroma accepts: %s',
  (strategy) => {
    it('is refused at the call naming the record and the server limit; one under it is delivered', async () => {
      const t = await tempDir('dualwrite-payload-');
      const relational = new SqliteRelationalStore({ path: join(t.dir, 'source.db') });
      const vector = await ChromaVectorStore.open({
        url: inject('chromaUrl'),
        collection: `payload-${strategy}-${Date.now()}`,
        dimension: DIM,
      });
      const dw = await createDualWrite({
        relational,
        vector,
        embedder,
        strategy,
        delivery: FAST,
        limits: { maxTextBytes: 64 * MiB },
      });
      try {
        const error = await dw.put({ id: 'huge', text: 'x'.repeat(41 * MiB) }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).field).toBe('record');
        expect((error as ValidationError).message).toContain('max_payload_size_bytes');
        expect(
          (await relational.getRecords(['huge'], { includeDeleted: true })).size,
          'nothing written',
        ).toBe(0);
        await dw.put({ id: 'large', text: 'y'.repeat(2 * MiB) }); // above the default limit, under the server's
        const flushed = await dw.flush({ timeoutMs: 30_000 });
        expect(flushed.deadLetters).toBe(0);
        expect((await vector.getRecords(['large'])).get('large')?.text.length).toBe(2 * MiB);
      } finally {
        await dw.close({ drain: false });
        await t.remove();
      }
    }, 60_000);
  },
);
