/**
 * Contract suite for {@link VectorStore} adapters.
 *
 * Every check is a plain async function taking a {@link VectorStoreFactory}; it opens a fresh store, runs
 * its assertions with vitest's `expect` and rejects on the first violation. {@link vectorStoreSuite} wraps
 * them in `describe`/`it`, one test per check and a fresh store per test. Because the checks are plain
 * functions, a test can also run one check against a deliberately broken adapter and assert it rejects
 * (that is how the suite itself is tested).
 *
 * The doc comments of `contracts/vector-store.ts` are the specification; each check names the clause it
 * covers. Vectors are random (dimension 8), ids carry a random prefix.
 *
 * Assumptions beyond the contract text, stated so adapters can check them:
 * - the metric makes a stored vector its own nearest neighbour (cosine, L2 — not raw inner product), and
 *   every random test vector is non-zero;
 * - without concurrent writes, `listIds` neither skips nor repeats ids and pages in the same order twice;
 * - `score` is higher-is-closer and `distance` lower-is-closer for every metric;
 * - every method returns a rejected promise (or throws) with the dualwrite error `code` the contract names;
 *   errors are matched by `code`, not `instanceof`, so a second copy of `@dualwrite/core` is fine.
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { MetadataFilter, VectorHit, VectorStore } from '../contracts/vector-store.js';
import type { DualwriteErrorCode } from '../errors.js';
import { vectorsMatch } from '../record/record-equality.js';
import type { Metadata, VectorRecord } from '../record/types.js';

/** A store under test plus the hook that disposes of it. */
export interface VectorStoreFixture {
  /** A fresh, empty store of the requested dimension. */
  store: VectorStore;
  /**
   * Closes the store (it may already be closed: `close()` is idempotent) and removes everything it
   * created (temp directory, collection, ...). Called once per check, also when the check failed.
   */
  cleanup(): Promise<void>;
}

/** Creates a fresh, empty store whose {@link VectorStore.dimension} is `opts.dimension`. */
export type VectorStoreFactory = (opts: { dimension: number }) => Promise<VectorStoreFixture>;

/** One contract check: opens its own store(s) through the factory and rejects on a violation. */
export type VectorStoreCheck = (factory: VectorStoreFactory) => Promise<void>;

/** Vector dimension the suite uses (small, to stay fast). */
export const VECTOR_STORE_SUITE_DIMENSION = 8;

/** Largest batch the large-batch check writes, whatever the store's `maxBatchSize`. */
export const VECTOR_STORE_SUITE_MAX_LARGE_BATCH = 2_500;

/**
 * Ids that break naive predicate building or decoding: quotes, SQL / filter metacharacters, LIKE wildcards,
 * backslashes, whitespace, non-ASCII, a leading U+FEFF. Each must round-trip and delete only itself.
 */
export const VECTOR_STORE_NASTY_IDS: readonly string[] = Object.freeze([
  "a' OR '1'='1",
  'x" OR 1=1 --',
  "'; DROP TABLE t; --",
  "''",
  "'",
  '"',
  '%',
  '_',
  'a%b_c',
  '\\',
  'back\\slash',
  'ends with backslash\\',
  "\\'",
  ')',
  '(',
  "id IN ('a')",
  '*',
  '$eq',
  '{"$ne":null}',
  ' spaces  around ',
  'tab\there',
  'new\nline',
  '🙂 emoji 🚀',
  '中文字符',
  'ñandú',
  // A leading U+FEFF is part of the id: a reader that drops it as a byte order mark merges these two.
  '\uFEFFbyte order mark',
  'byte order mark',
]);

/** Adapter quirks and knobs for {@link vectorStoreSuite}. */
export interface VectorStoreSuiteOptions {
  /**
   * Checks to skip, by name, each with the reason (shown in the test title). Use only for a documented
   * limitation of the backend; a skipped check is a contract gap to report.
   */
  skip?: Partial<Record<VectorStoreCheckName, string>>;
  /** Per-test timeout in ms. Default 60,000. */
  timeoutMs?: number;
}

// ---------------------------------------------------------------------------------------------------
// helpers

const DIM = VECTOR_STORE_SUITE_DIMENSION;

/** Runs `fn` on a fresh store and always disposes of it. */
async function withStore(
  factory: VectorStoreFactory,
  fn: (store: VectorStore) => Promise<void>,
): Promise<void> {
  const fixture = await factory({ dimension: DIM });
  let failure: unknown;
  try {
    await fn(fixture.store);
  } catch (error) {
    failure = error;
  }
  try {
    await fixture.cleanup();
  } catch (error) {
    if (failure === undefined) failure = error;
  }
  if (failure !== undefined) throw failure;
}

/** Random vector with components in [-1, 1), never all zero (cosine needs a non-zero norm). */
function randomVector(dim = DIM): number[] {
  const v = Array.from({ length: dim }, () => Math.random() * 2 - 1);
  v[0] = (v[0]! >= 0 ? 0.1 : -0.1) + v[0]!;
  return v;
}

function idPrefix(): string {
  return `${randomUUID().slice(0, 8)}-`;
}

function rec(id: string, overrides: Partial<VectorRecord> = {}): VectorRecord {
  return { id, embedding: randomVector(), text: `text of ${id}`, metadata: {}, version: 1, ...overrides };
}

/** The rejection of `fn()` (sync throws included), or a failed assertion if it resolved. */
async function rejectionOf(what: string, fn: () => Promise<unknown>): Promise<unknown> {
  let resolved = false;
  try {
    await fn();
    resolved = true;
  } catch (error) {
    return error;
  }
  expect(resolved, `${what} should have rejected`).toBe(false);
  return undefined;
}

/**
 * Asserts a dualwrite error with `code`. Compares `code` rather than `instanceof`, so it also works when
 * the adapter resolves a second copy of `@dualwrite/core`.
 */
async function expectCode(
  what: string,
  code: DualwriteErrorCode,
  fn: () => Promise<unknown>,
): Promise<unknown> {
  const error = await rejectionOf(what, fn);
  expect(error, `${what}: expected a ${code} error, got ${String(error)}`).toBeInstanceOf(Error);
  expect((error as { code?: unknown }).code, `${what}: wrong error code (${String(error)})`).toBe(code);
  return error;
}

/** Finds the hit for `record` by querying with its own embedding over the whole (small) index. */
async function hitOf(store: VectorStore, record: VectorRecord): Promise<VectorHit | undefined> {
  const total = await store.count();
  const hits = await store.query(record.embedding, { k: Math.max(1, Math.min(1000, total)) });
  return hits.find((h) => h.id === record.id);
}

async function expectStored(store: VectorStore, record: VectorRecord, what = record.id): Promise<void> {
  const versions = await store.getVersions([record.id]);
  expect(versions.get(record.id), `getVersions(${JSON.stringify(what)})`).toBe(record.version);
  const hit = await hitOf(store, record);
  expect(hit, `query should find ${JSON.stringify(what)}`).toBeDefined();
  expect(hit!.version, `hit version of ${JSON.stringify(what)}`).toBe(record.version);
  expect(hit!.text, `hit text of ${JSON.stringify(what)}`).toBe(record.text);
  expect(hit!.metadata, `hit metadata of ${JSON.stringify(what)}`).toStrictEqual(record.metadata);
}

function expectBestFirst(hits: readonly VectorHit[], what: string): void {
  for (let i = 1; i < hits.length; i++) {
    expect(hits[i]!.score, `${what}: scores must not increase (hit ${i})`).toBeLessThanOrEqual(
      hits[i - 1]!.score,
    );
    expect(hits[i]!.distance, `${what}: distances must not decrease (hit ${i})`).toBeGreaterThanOrEqual(
      hits[i - 1]!.distance,
    );
  }
}

function matches(metadata: Metadata, filter: MetadataFilter): boolean {
  return Object.entries(filter).every(([k, v]) => Object.hasOwn(metadata, k) && metadata[k] === v);
}

async function listAll(store: VectorStore, limit: number): Promise<{ id: string; version: number }[]> {
  const all: { id: string; version: number }[] = [];
  let cursor: string | undefined;
  const total = await store.count();
  const maxPages = Math.ceil(total / limit) + 2;
  for (let page = 0; ; page++) {
    expect(page, `listIds should finish within ${maxPages} pages`).toBeLessThan(maxPages);
    const result = await store.listIds(cursor === undefined ? { limit } : { cursor, limit });
    expect(result.items.length, 'listIds page size').toBeLessThanOrEqual(limit);
    all.push(...result.items);
    if (result.nextCursor === undefined) return all;
    expect(typeof result.nextCursor, 'nextCursor is a string or undefined').toBe('string');
    cursor = result.nextCursor;
  }
}

// ---------------------------------------------------------------------------------------------------
// checks

/**
 * Every contract check, by name. Each takes a factory, opens its own fresh store, and rejects (with a
 * vitest assertion error) on the first contract violation.
 */
export const vectorStoreChecks = {
  /** `name`, `dimension` and `maxBatchSize` are exposed; an empty store counts 0, lists and finds nothing. */
  async describesItselfAndStartsEmpty(factory) {
    await withStore(factory, async (store) => {
      expect(typeof store.name, 'name').toBe('string');
      expect(store.name.length, 'name is not empty').toBeGreaterThan(0);
      expect(store.dimension, 'dimension').toBe(DIM);
      expect(Number.isInteger(store.maxBatchSize) && store.maxBatchSize > 0, 'maxBatchSize >= 1').toBe(true);
      expect(await store.count(), 'count of an empty store').toBe(0);
      expect(await store.query(randomVector(), { k: 5 }), 'query of an empty store').toStrictEqual([]);
      expect((await store.getVersions(['nope'])).size, 'getVersions of an empty store').toBe(0);
      const page = await store.listIds({ limit: 10 });
      expect(page.items, 'listIds of an empty store').toStrictEqual([]);
      expect(page.nextCursor, 'listIds of an empty store ends at once').toBeUndefined();
    });
  },

  /** upsert, then getVersions / count / query find the record with its text, metadata and version. */
  async upsertThenRead(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const a = rec(`${p}a`, { text: 'alpha', metadata: { kind: 'doc', n: 1 }, version: 3 });
      const b = rec(`${p}b`, { text: 'beta', version: 5 });
      await store.upsert([a, b]);
      expect(await store.count(), 'count after upserting 2').toBe(2);
      const versions = await store.getVersions([a.id, b.id, `${p}missing`, a.id]);
      expect(versions.get(a.id)).toBe(3);
      expect(versions.get(b.id)).toBe(5);
      expect(versions.has(`${p}missing`), 'unknown ids are absent from getVersions').toBe(false);
      expect(versions.size).toBe(2);
      expect((await store.getVersions([])).size, 'getVersions([])').toBe(0);
      const hits = await store.query(a.embedding, { k: 2 });
      expect(hits[0]?.id, 'query with a stored vector finds it first').toBe(a.id);
      expect(hits[0]).toMatchObject({ id: a.id, version: 3, text: 'alpha', metadata: { kind: 'doc', n: 1 } });
      for (const h of hits) {
        expect(Number.isFinite(h.score), 'score is finite').toBe(true);
        expect(Number.isFinite(h.distance), 'distance is finite').toBe(true);
      }
      await expectStored(store, b);
    });
  },

  /** Re-upserting the same record is a no-op in effect. */
  async idempotentReupsert(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const a = rec(`${p}a`, { metadata: { x: 'y' }, version: 7 });
      const b = rec(`${p}b`, { version: 2 });
      await store.upsert([a, b]);
      await store.upsert([a, b]);
      await store.upsert([a]);
      expect(await store.count(), 'count after re-upserting the same records').toBe(2);
      await expectStored(store, a);
      await expectStored(store, b);
    });
  },

  /** Upserting a newer version replaces embedding, text, metadata and version in place. */
  async newVersionReplaces(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const v1 = rec(`${p}a`, { text: 'old text', metadata: { state: 'old', n: 1, keep: true }, version: 1 });
      const other = rec(`${p}other`);
      await store.upsert([v1, other]);
      const v2 = rec(v1.id, { text: 'new text', metadata: { state: 'new' }, version: 9 });
      await store.upsert([v2]);
      expect(await store.count(), 'count after replacing').toBe(2);
      expect((await store.getVersions([v1.id])).get(v1.id)).toBe(9);
      await expectStored(store, v2);
      const hits = await store.query(v2.embedding, { k: 2 });
      expect(hits[0]?.id, 'the new embedding is what query matches').toBe(v1.id);
      expect(hits.filter((h) => h.id === v1.id).length, 'the id appears once').toBe(1);
    });
  },

  /** delete removes an upserted record and nothing else. */
  async upsertThenDelete(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const a = rec(`${p}a`);
      const b = rec(`${p}b`);
      await store.upsert([a, b]);
      await store.delete([a.id]);
      expect(await store.count(), 'count after delete').toBe(1);
      expect((await store.getVersions([a.id, b.id])).has(a.id), 'deleted id is gone').toBe(false);
      const hits = await store.query(a.embedding, { k: 10 });
      expect(
        hits.map((h) => h.id),
        'query no longer returns the deleted id',
      ).not.toContain(a.id);
      await expectStored(store, b);
      await store.delete([a.id]);
      expect(await store.count(), 'deleting twice is fine').toBe(1);
    });
  },

  /**
   * An embedding the store does not refuse through `embeddingProblem` is found by a search: the all-zero
   * vector and a tiny one (zero to a float32 index) are either refused there, or stored and returned by a
   * query (under cosine distance such a row gets a NaN distance and is never found).
   */
  async searchableUnlessRefused(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const candidates: [string, number[]][] = [
        ['zero', new Array<number>(DIM).fill(0)],
        ['tiny', Array.from({ length: DIM }, (_, i) => (i === 0 ? 1e-30 : 0))],
      ];
      await store.upsert([rec(`${p}other`)]);
      for (const [name, embedding] of candidates) {
        const problem = store.embeddingProblem?.(embedding);
        if (problem !== undefined) {
          expect(typeof problem === 'string' && problem.length > 0, `${name}: a reason`).toBe(true);
          continue;
        }
        await store.upsert([rec(`${p}${name}`, { embedding })]);
        const hits = await store.query(randomVector(), { k: 10 });
        expect(
          hits.map((h) => h.id),
          `the ${name} vector, stored without a problem reported, is found by a search`,
        ).toContain(`${p}${name}`);
      }
      expect(store.embeddingProblem?.(randomVector()), 'an ordinary vector has no problem').toBeUndefined();
    });
  },

  /** Unknown ids are ignored by delete (not an error). */
  async deleteUnknownIsNotAnError(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      await store.delete([`${p}never-existed`]);
      const a = rec(`${p}a`);
      await store.upsert([a]);
      await store.delete([`${p}never-existed`, `${p}nor-this`]);
      expect(await store.count()).toBe(1);
      await store.delete([`${p}ghost`, a.id, a.id]);
      expect(await store.count(), 'known id deleted even next to unknown and repeated ids').toBe(0);
    });
  },

  /** upsert([]) and delete([]) are no-ops. */
  async emptyCallsAreNoOps(factory) {
    await withStore(factory, async (store) => {
      await store.upsert([]);
      await store.delete([]);
      expect(await store.count()).toBe(0);
      const a = rec(`${idPrefix()}a`);
      await store.upsert([a]);
      await store.upsert([]);
      await store.delete([]);
      expect(await store.count()).toBe(1);
      await expectStored(store, a);
    });
  },

  /** Callers may pass more than maxBatchSize records; every chunk lands (upsert and delete). */
  async batchesLargerThanMaxBatchSize(factory) {
    await withStore(factory, async (store) => {
      const n = Math.min(store.maxBatchSize * 2 + 5, VECTOR_STORE_SUITE_MAX_LARGE_BATCH);
      const p = idPrefix();
      const records = Array.from({ length: n }, (_, i) =>
        rec(`${p}${String(i).padStart(5, '0')}`, { version: i + 1 }),
      );
      await store.upsert(records);
      expect(await store.count(), `count after upserting ${n} records in one call`).toBe(n);
      const versions = await store.getVersions(records.map((r) => r.id));
      expect(versions.size, 'getVersions of every record').toBe(n);
      for (const r of records) expect(versions.get(r.id), `version of ${r.id}`).toBe(r.version);
      const last = records[n - 1]!;
      expect((await store.query(last.embedding, { k: 1 }))[0]?.id, 'the last record is queryable').toBe(
        last.id,
      );
      const keep = records[0]!;
      await store.delete(records.slice(1).map((r) => r.id));
      expect(await store.count(), `count after deleting ${n - 1} records in one call`).toBe(1);
      expect([...(await store.getVersions(records.map((r) => r.id))).keys()]).toStrictEqual([keep.id]);
    });
  },

  /** Duplicate ids inside one upsert call are allowed; the last one wins (whatever its version). */
  async duplicateIdsInOneBatchLastWins(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const a1 = rec(`${p}a`, { text: 'first', metadata: { pos: 1 }, version: 1 });
      const b = rec(`${p}b`);
      const a2 = rec(`${p}a`, { text: 'second', metadata: { pos: 2 }, version: 2 });
      await store.upsert([a1, b, a2]);
      expect(await store.count(), 'one row per id').toBe(2);
      await expectStored(store, a2);
      // Last wins even when the last one carries the lower version.
      const c1 = rec(`${p}c`, { text: 'c first', version: 4 });
      const c2 = rec(`${p}c`, { text: 'c last', version: 3 });
      await store.upsert([c1, c2]);
      expect(await store.count()).toBe(3);
      await expectStored(store, c2);
      // Duplicates of an id that already exists.
      const a3 = rec(`${p}a`, { text: 'third', version: 10 });
      const a4 = rec(`${p}a`, { text: 'fourth', version: 11 });
      await store.upsert([a3, a4, a4]);
      expect(await store.count(), 'still one row per id').toBe(3);
      await expectStored(store, a4);
    });
  },

  /** Any id string is safe: nasty ids round-trip, and deleting one removes only itself. */
  async nastyIdsRoundTripAndDeleteOnlyThemselves(factory) {
    await withStore(factory, async (store) => {
      const records = [
        rec('plain-control'),
        ...VECTOR_STORE_NASTY_IDS.map((id, i) => rec(id, { version: i + 2 })),
      ];
      await store.upsert(records);
      expect(await store.count(), 'every nasty id is a separate record').toBe(records.length);
      const versions = await store.getVersions(records.map((r) => r.id));
      for (const r of records)
        expect(versions.get(r.id), `getVersions(${JSON.stringify(r.id)})`).toBe(r.version);
      for (const r of records) {
        const single = await store.getVersions([r.id]);
        expect([...single.entries()], `getVersions([${JSON.stringify(r.id)}]) alone`).toStrictEqual([
          [r.id, r.version],
        ]);
      }
      const hits = await store.query(records[0]!.embedding, { k: records.length });
      expect(new Set(hits.map((h) => h.id)), 'query returns every nasty id verbatim').toStrictEqual(
        new Set(records.map((r) => r.id)),
      );
      for (const h of hits) expect(h.text).toBe(`text of ${h.id}`);
      const listed = await listAll(store, 4);
      expect(new Set(listed.map((x) => x.id)), 'listIds returns every nasty id verbatim').toStrictEqual(
        new Set(records.map((r) => r.id)),
      );

      let remaining = records.map((r) => r.id);
      for (const victim of ["a' OR '1'='1", 'x" OR 1=1 --', '%', '_', '\\', "id IN ('a')", ')']) {
        await store.delete([victim]);
        remaining = remaining.filter((id) => id !== victim);
        expect(await store.count(), `deleting ${JSON.stringify(victim)} deletes only itself`).toBe(
          remaining.length,
        );
        const left = await store.getVersions(records.map((r) => r.id));
        expect(new Set(left.keys()), `ids left after deleting ${JSON.stringify(victim)}`).toStrictEqual(
          new Set(remaining),
        );
      }
    });
  },

  /** NaN / ±Infinity components → ValidationError (not a dimension error), on upsert and query; nothing written. */
  async nonFiniteComponentsRejected(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const existing = rec(`${p}existing`, { version: 1 });
      await store.upsert([existing]);
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        const embedding = randomVector();
        embedding[3] = bad;
        const batch = [
          rec(`${p}good-new`),
          rec(existing.id, { text: 'must not land', version: 2 }),
          rec(`${p}bad`, { embedding }),
        ];
        const error = await expectCode(`upsert with a ${bad} component`, 'VALIDATION', () =>
          store.upsert(batch),
        );
        expect((error as Error).name, 'a non-finite component is not a dimension mismatch').not.toBe(
          'DimensionMismatchError',
        );
        expect(await store.count(), `nothing written by a batch holding ${bad}`).toBe(1);
        await expectStored(store, existing, 'existing record untouched');
        await expectCode(`query with a ${bad} component`, 'VALIDATION', () =>
          store.query(embedding, { k: 3 }),
        );
      }
    });
  },

  /** A wrong-length embedding → DimensionMismatchError, on upsert and query; nothing written. */
  async wrongDimensionRejected(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const existing = rec(`${p}existing`, { version: 1 });
      await store.upsert([existing]);
      for (const length of [DIM - 1, DIM + 1, 0]) {
        const batch = [
          rec(`${p}good-new`),
          rec(existing.id, { text: 'must not land', version: 2 }),
          rec(`${p}bad`, { embedding: randomVector(length) }),
        ];
        await expectCode(`upsert with a ${length}-d embedding`, 'DIMENSION_MISMATCH', () =>
          store.upsert(batch),
        );
        expect(await store.count(), `nothing written by a batch holding a ${length}-d embedding`).toBe(1);
        await expectStored(store, existing, 'existing record untouched');
        await expectCode(`query with a ${length}-d embedding`, 'DIMENSION_MISMATCH', () =>
          store.query(randomVector(length), { k: 3 }),
        );
      }
    });
  },

  /**
   * string / number / boolean metadata values (NUL in keys and strings included) come back with their exact
   * types and values.
   */
  async metadataTypesRoundTrip(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const metadata: Metadata = {
        s: 'hello ünïcödé 🙂',
        empty: '',
        quote: `it's "quoted" \\ back`,
        nul: 'before\u0000after',
        'key\u0000with NUL': 'v',
        numeric_string: '42',
        int: 42,
        negative: -7,
        float: -3.25,
        zero: 0,
        big: 2 ** 40 + 1,
        yes: true,
        no: false,
      };
      const a = rec(`${p}typed`, { metadata });
      const none = rec(`${p}none`, { metadata: {} });
      await store.upsert([a, none]);
      const hit = await hitOf(store, a);
      expect(hit?.metadata, 'metadata round-trips with exact types').toStrictEqual(metadata);
      expect(typeof hit?.metadata.numeric_string).toBe('string');
      expect(typeof hit?.metadata.int).toBe('number');
      expect(typeof hit?.metadata.yes).toBe('boolean');
      expect((await hitOf(store, none))?.metadata, 'empty metadata round-trips as {}').toStrictEqual({});
    });
  },

  /** Equality filters (string, number, boolean, AND of keys) return only matches — k of them when enough match. */
  async metadataEqualityFilter(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const colors = ['red', 'green', 'blue'] as const;
      const records = Array.from({ length: 30 }, (_, i) =>
        rec(`${p}${String(i).padStart(2, '0')}`, {
          metadata: { color: colors[i % 3]!, n: i % 5, even: i % 2 === 0, label: `item ${i}` },
          version: i + 1,
        }),
      );
      await store.upsert(records);
      const cases: { filter: MetadataFilter; k: number }[] = [
        { filter: { color: 'red' }, k: 5 },
        { filter: { color: 'red' }, k: 100 },
        { filter: { n: 3 }, k: 4 },
        { filter: { n: 3 }, k: 10 },
        { filter: { even: true }, k: 100 },
        { filter: { even: false }, k: 3 },
        { filter: { color: 'blue', even: true }, k: 10 },
        { filter: { color: 'blue', n: 0, even: false }, k: 10 },
        { filter: { n: '3' }, k: 10 }, // a string never equals a number
        { filter: { even: 'true' }, k: 10 },
        { filter: { color: 'purple' }, k: 10 },
        { filter: { missing_key: 'x' }, k: 10 },
        { filter: { label: 'item 7' }, k: 10 },
        { filter: {}, k: 30 },
      ];
      for (const { filter, k } of cases) {
        const expected = records.filter((r) => matches(r.metadata, filter));
        // Query next to a record that does NOT match, so a store that filters only the unfiltered top k
        // (post-filtering without over-fetching) comes back short.
        const anchor = records.find((r) => !matches(r.metadata, filter)) ?? records[0]!;
        const hits = await store.query(anchor.embedding, { k, filter });
        const what = `filter ${JSON.stringify(filter)} k=${k}`;
        expect(hits.length, `${what}: number of hits`).toBe(Math.min(k, expected.length));
        for (const h of hits) expect(matches(h.metadata, filter), `${what}: ${h.id} matches`).toBe(true);
        const expectedIds = new Set(expected.map((r) => r.id));
        for (const h of hits) expect(expectedIds.has(h.id), `${what}: ${h.id} is a real match`).toBe(true);
        expect(new Set(hits.map((h) => h.id)).size, `${what}: no duplicate hits`).toBe(hits.length);
        expectBestFirst(hits, what);
      }
      // The best match under a filter is the matching record itself.
      const target = records[13]!;
      const hits = await store.query(target.embedding, { k: 3, filter: { color: target.metadata.color! } });
      expect(hits[0]?.id, 'filtered query with a stored vector finds it first').toBe(target.id);
      // undefined filter behaves like no filter.
      expect(await store.query(target.embedding, { k: 5, filter: undefined })).toHaveLength(5);
    });
  },

  /** At most k hits, best first; querying with a stored vector returns that id first with the top score. */
  async kRespectedAndBestFirst(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const records = Array.from({ length: 30 }, (_, i) => rec(`${p}${i}`, { version: i + 1 }));
      await store.upsert(records);
      for (const k of [1, 7, 30, 1000]) {
        const hits = await store.query(records[0]!.embedding, { k });
        expect(hits.length, `k=${k}`).toBe(Math.min(k, records.length));
        expect(new Set(hits.map((h) => h.id)).size, `k=${k}: distinct ids`).toBe(hits.length);
        expectBestFirst(hits, `k=${k}`);
      }
      for (const target of [records[0]!, records[17]!, records[29]!]) {
        const hits = await store.query(target.embedding, { k: 10 });
        expect(hits[0]?.id, 'a stored vector is its own nearest neighbour').toBe(target.id);
        expect(hits[0]!.score, 'and has the highest score').toBeGreaterThan(hits[1]!.score);
        expect(hits[0]).toMatchObject({ version: target.version, text: target.text });
      }
      // A vector near one record ranks it above a far one.
      const near = records[5]!.embedding.map((x) => x * 0.9 + 0.001);
      const hits = await store.query(near, { k: 30 });
      expect(hits[0]?.id, 'nearest record ranks first').toBe(records[5]!.id);
    });
  },

  /** Empty text and very long (100 KB, multi-byte) text round-trip exactly. */
  async emptyAndLongTextRoundTrip(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const long = 'Lorem ipsum — ünïcödé 🙂 中文 \' " \\ \n'.repeat(2_500); // ~100 KB as UTF-8
      expect(Buffer.byteLength(long, 'utf8')).toBeGreaterThan(100_000);
      const empty = rec(`${p}empty`, { text: '' });
      const big = rec(`${p}long`, { text: long });
      await store.upsert([empty, big]);
      await expectStored(store, empty);
      await expectStored(store, big);
    });
  },

  /** listIds pages through every id with its version, terminating with nextCursor undefined. */
  async listIdsPagesThroughEverything(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const records = Array.from({ length: 30 }, (_, i) => rec(`${p}${i}`, { version: 100 + i }));
      await store.upsert(records);
      for (const limit of [7, 1, 30, 10_000]) {
        const listed = await listAll(store, limit);
        const ids = listed.map((x) => x.id);
        expect(new Set(ids).size, `limit=${limit}: no id repeats without concurrent writes`).toBe(ids.length);
        expect(new Set(ids), `limit=${limit}: union is every id`).toStrictEqual(
          new Set(records.map((r) => r.id)),
        );
        for (const item of listed) {
          const r = records.find((x) => x.id === item.id)!;
          expect(item.version, `limit=${limit}: version of ${item.id}`).toBe(r.version);
        }
      }
      const first = await store.listIds({ limit: 7 });
      expect(first.items.length, 'a full first page').toBe(7);
      expect(first.nextCursor, 'more pages follow').toBeDefined();
      // The order is stable: paging twice gives the same sequence.
      expect((await listAll(store, 7)).map((x) => x.id)).toStrictEqual(
        (await listAll(store, 7)).map((x) => x.id),
      );
    });
  },

  /** ping resolves on a healthy store. */
  async pingResolves(factory) {
    await withStore(factory, async (store) => {
      await store.ping();
      await store.upsert([rec(`${idPrefix()}a`)]);
      await store.ping();
    });
  },

  /** close is idempotent; every later call throws ClosedError. */
  async closeIsIdempotentAndFinal(factory) {
    await withStore(factory, async (store) => {
      const a = rec(`${idPrefix()}a`);
      await store.upsert([a]);
      await store.close();
      await store.close();
      await Promise.all([store.close(), store.close()]);
      const calls: Record<string, () => Promise<unknown>> = {
        upsert: () => store.upsert([rec(`${idPrefix()}b`)]),
        'upsert([])': () => store.upsert([]),
        delete: () => store.delete([a.id]),
        'delete([])': () => store.delete([]),
        query: () => store.query(a.embedding, { k: 1 }),
        getVersions: () => store.getVersions([a.id]),
        listIds: () => store.listIds({ limit: 10 }),
        count: () => store.count(),
        ping: () => store.ping(),
      };
      for (const [what, call] of Object.entries(calls))
        await expectCode(`${what} after close`, 'CLOSED', call);
    });
  },

  /**
   * A version fence (stores with `versionFence`): `ifNewer` never replaces a higher stored version and
   * reports the ids it skipped; equal and higher versions are written; without `ifNewer` the write is
   * unconditional. Stores without a fence write unconditionally whatever the option says.
   */
  async versionFenceKeepsNewerRowsAndReportsSkips(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const [a, b, c] = [`${p}a`, `${p}b`, `${p}c`];
      await store.upsert([rec(a, { version: 10 }), rec(b, { version: 10 })]);
      const stale = rec(a, { version: 5, text: 'stale' });
      const report = await store.upsert(
        [stale, rec(b, { version: 10, text: 'same' }), rec(c, { version: 1 })],
        {
          ifNewer: true,
        },
      );
      const versions = await store.getVersions([a, b, c]);
      if (store.versionFence) {
        expect(report?.fenced, 'the fence reports exactly the stale id').toEqual([a]);
        expect(versions.get(a), 'the newer version stays').toBe(10);
      } else {
        expect(versions.get(a), 'no fence: the write is unconditional').toBe(5);
      }
      expect(versions.get(b), 'an equal version is rewritten (redelivery)').toBe(10);
      expect(versions.get(c), 'a new id is inserted').toBe(1);
      await store.upsert([stale]);
      expect((await store.getVersions([a])).get(a), 'without ifNewer the write is unconditional').toBe(5);
      expect(await store.count(), 'one row per id').toBe(3);
    });
  },

  /**
   * A delete's version fence (`atMost`, stores with `versionFence`): a listed id's row above its version stays
   * (a late delete never removes a newer state), one at or below it goes, and an id not listed goes whatever its
   * version; ids containing quotes are safe. Stores without a fence delete unconditionally.
   */
  async deleteFenceKeepsNewerRows(factory) {
    await withStore(factory, async (store) => {
      const p = idPrefix();
      const [newer, equal, older, free] = [`${p}new'er`, `${p}equal`, `${p}older`, `${p}free`];
      await store.upsert([
        rec(newer, { version: 9 }),
        rec(equal, { version: 5 }),
        rec(older, { version: 2 }),
        rec(free, { version: 50 }),
      ]);
      const atMost = new Map([
        [newer, 5],
        [equal, 5],
        [older, 5],
      ]);
      await store.delete([newer, equal, older, free], { atMost });
      const left = await store.getVersions([newer, equal, older, free]);
      if (store.versionFence)
        expect([...left.entries()], 'only the row above its delete version stays').toEqual([[newer, 9]]);
      else expect(left.size, 'no fence: every row is deleted').toBe(0);
    });
  },

  /**
   * `getRecords()` (when present) reads back what was written — version, text (empty and non-ASCII too) and
   * metadata of every scalar type exactly, the vector at float32 precision (`vectorsMatch`) — for the latest
   * upsert of each id; unknown and deleted ids are absent, a repeated id is read once.
   */
  async getRecordsReadsBackWhatWasWritten(factory) {
    await withStore(factory, async (store) => {
      if (!store.getRecords) return;
      const p = idPrefix();
      const a = rec(`${p}a`, { text: '', metadata: { s: 'x', n: -2.5, i: 7, b: false }, version: 4 });
      const b = rec(`${p}b`, { text: 'b 🙂 中文', version: 2 });
      const bom = rec(`${p}bom`, { text: '\uFEFFa text that starts with U+FEFF', version: 5 });
      const gone = rec(`${p}gone`);
      await store.upsert([a, b, bom, gone]);
      const b2 = rec(b.id, { text: 'b again', metadata: { k: 'v' }, version: 3 });
      await store.upsert([b2]);
      await store.delete([gone.id]);
      const rows = await store.getRecords([a.id, b.id, bom.id, gone.id, `${p}missing`, a.id]);
      expect([...rows.keys()].sort(), 'the ids present, once each').toStrictEqual(
        [a.id, b.id, bom.id].sort(),
      );
      for (const expected of [a, b2, bom]) {
        const row = rows.get(expected.id)!;
        expect(row.id).toBe(expected.id);
        expect(row.version, `version of ${expected.id}`).toBe(expected.version);
        expect(row.text, `text of ${expected.id}`).toBe(expected.text);
        expect(row.metadata, `metadata of ${expected.id}`).toStrictEqual(expected.metadata);
        const stored = expected.embedding.map((x) => Math.fround(x));
        expect(
          vectorsMatch(stored, row.embedding),
          `vector of ${expected.id}: ${JSON.stringify(row.embedding)}, written ${JSON.stringify(stored)}`,
        ).toBe(true);
      }
      expect((await store.getRecords([])).size, 'getRecords([])').toBe(0);
    });
  },

  /**
   * `identity()` (when present) names the backend, an absolute location, the collection and dimension,
   * and is stable between calls; `claimIndex()` (when present) stamps the owner `identity()` reports and
   * changes nothing else; `maxVersion()` (when present) is the highest stored version.
   */
  async identityAndMaxVersionDescribeTheIndex(factory) {
    await withStore(factory, async (store) => {
      if (store.maxVersion) {
        expect(await store.maxVersion(), 'empty index').toBeNull();
        const p = idPrefix();
        await store.upsert([
          rec(`${p}a`, { version: 7 }),
          rec(`${p}b`, { version: 42 }),
          rec(`${p}c`, { version: 3 }),
        ]);
        expect(await store.maxVersion()).toBe(42);
      }
      if (!store.identity) return;
      const first = await store.identity();
      expect(first.backend).toBe(store.name);
      expect(first.dimension).toBe(store.dimension);
      expect(typeof first.location === 'string' && first.location.length > 0).toBe(true);
      expect(typeof first.collection === 'string' && first.collection.length > 0).toBe(true);
      expect(first.instanceId === null || typeof first.instanceId === 'string').toBe(true);
      expect(await store.identity(), 'stable between calls').toEqual(first);
      if (!store.claimIndex) return;
      expect(first.owner ?? null, 'an index nobody claimed has no owner').toBeNull();
      await store.claimIndex('owner-one');
      expect(await store.identity(), 'the owner is stamped; nothing else changes').toEqual({
        ...first,
        owner: 'owner-one',
      });
      await store.claimIndex('owner-two');
      expect((await store.identity()).owner, 'a later claim replaces it').toBe('owner-two');
    });
  },

  /**
   * `stampCheckpoint()` (with `identity()`) raises the checkpoint `identity()` reports, never lowers it, touches
   * nothing else (identity, owner, rows), and refuses a checkpoint that is not a positive safe integer.
   */
  async checkpointOnlyRises(factory) {
    await withStore(factory, async (store) => {
      if (!store.stampCheckpoint || !store.identity) return;
      const p = idPrefix();
      await store.upsert([rec(`${p}a`, { version: 5 })]);
      const first = await store.identity();
      expect(first.checkpoint ?? null, 'a new index holds no checkpoint').toBeNull();
      await store.stampCheckpoint(3);
      expect(await store.identity(), 'the checkpoint is stamped; nothing else changes').toEqual({
        ...first,
        checkpoint: 3,
      });
      await store.stampCheckpoint(2);
      expect((await store.identity()).checkpoint, 'a lower stamp changes nothing').toBe(3);
      await store.stampCheckpoint(3);
      expect((await store.identity()).checkpoint, 'an equal stamp changes nothing').toBe(3);
      if (store.claimIndex) {
        await store.claimIndex('owner-one');
        await store.stampCheckpoint(10);
        const after = await store.identity();
        expect([after.owner, after.checkpoint], 'a claim and a stamp keep each other').toEqual([
          'owner-one',
          10,
        ]);
      }
      expect(Object.fromEntries(await store.getVersions([`${p}a`])), 'rows are untouched').toEqual({
        [`${p}a`]: 5,
      });
      for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53])
        await expect(store.stampCheckpoint(bad), `stampCheckpoint(${bad})`).rejects.toMatchObject({
          code: 'VALIDATION',
          field: 'checkpoint',
        });
    });
  },

  /**
   * `versionsInRange()` (when present) returns the ids and versions of exactly the rows with `above < version <=
   * atMost` (no upper bound when omitted), at most `limit` of them, and refuses a bound that is not a safe integer
   * or a `limit` outside 1..10,000, naming the field.
   */
  async versionsInRangeReadsRowsByVersion(factory) {
    await withStore(factory, async (store) => {
      if (!store.versionsInRange) return;
      const p = idPrefix();
      expect(await store.versionsInRange({ above: 0, limit: 10 }), 'empty index').toEqual([]);
      await store.upsert([
        rec(`${p}a`, { version: 7 }),
        rec(`${p}b`, { version: 42 }),
        rec(`${p}c`, { version: 3 }),
        rec(`${p}d`, { version: 100 }),
      ]);
      const read = async (range: Parameters<NonNullable<VectorStore['versionsInRange']>>[0]) =>
        (await store.versionsInRange!(range))
          .map((r) => `${r.id.slice(p.length)}${r.version}`)
          .sort()
          .join(' ');
      expect(await read({ above: 3, limit: 10 }), 'above 3').toBe('a7 b42 d100');
      expect(await read({ above: 3, atMost: 42, limit: 10 }), 'above 3, at most 42').toBe('a7 b42');
      expect(await read({ above: 7, atMost: 7, limit: 10 }), 'an empty range').toBe('');
      expect(await read({ above: 100, limit: 10 }), 'above the highest').toBe('');
      expect((await store.versionsInRange({ above: 0, limit: 2 })).length, 'limit').toBe(2);
      for (const [range, field] of [
        [{ above: 1.5, limit: 10 }, 'range.above'],
        [{ above: 0, atMost: Number.NaN, limit: 10 }, 'range.atMost'],
        [{ above: 0, limit: 0 }, 'range.limit'],
        [{ above: 0, limit: 10_001 }, 'range.limit'],
      ] as const)
        await expect(
          store.versionsInRange(range),
          `versionsInRange(${JSON.stringify(range)})`,
        ).rejects.toMatchObject({
          code: 'VALIDATION',
          field,
        });
    });
  },
} satisfies Record<string, VectorStoreCheck>;

/** Name of one check in {@link vectorStoreChecks}. */
export type VectorStoreCheckName = keyof typeof vectorStoreChecks;

/**
 * Registers the VectorStore contract suite with vitest: one `describe(\`VectorStore contract: ${name}\`)`
 * holding one `it` per entry of {@link vectorStoreChecks}, each with a fresh store from `factory`.
 *
 * @param name - backend name shown in the test titles, e.g. `'lancedb'`.
 * @param factory - creates a fresh, empty store of the requested dimension (the suite asks for
 *   {@link VECTOR_STORE_SUITE_DIMENSION}) and the cleanup that closes and removes it.
 * @param options - checks to skip (with a reason) and the per-test timeout.
 */
export function vectorStoreSuite(
  name: string,
  factory: VectorStoreFactory,
  options: VectorStoreSuiteOptions = {},
): void {
  const timeout = options.timeoutMs ?? 60_000;
  describe(`VectorStore contract: ${name}`, () => {
    for (const [checkName, check] of Object.entries(vectorStoreChecks) as [
      VectorStoreCheckName,
      VectorStoreCheck,
    ][]) {
      const skipReason = options.skip?.[checkName];
      if (skipReason !== undefined) it.skip(`${checkName} (skipped: ${skipReason})`, () => {});
      else it(checkName, () => check(factory), timeout);
    }
  });
}
