/**
 * Contract suite for {@link RelationalStore} adapters.
 *
 * Every check is a plain async function taking a {@link RelationalStoreFactory}; it opens a fresh store
 * (and calls `init()`), runs its assertions with vitest's `expect` and rejects on the first violation.
 * {@link relationalStoreSuite} wraps them in `describe`/`it`, one test per check and a fresh store per
 * test. Because the checks are plain functions, a test can also run one check against a deliberately
 * broken adapter and assert that it rejects (that is how the suite itself is tested).
 *
 * The doc comments of `contracts/relational-store.ts` and `contracts/outbox.ts` are the specification.
 * Times are Unix ms from a fixed base ({@link RELATIONAL_STORE_SUITE_T0}); ids carry a random part
 * except where the exact bytes of the id are the point of the check.
 *
 * Pattern: Keyv's `storageTestSuite` (one shared suite every storage adapter runs).
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { OutboxEntry, OutboxLease, TwoPhaseIntent } from '../contracts/outbox.js';
import type { RelationalStore } from '../contracts/relational-store.js';
import type { DualwriteErrorCode } from '../errors.js';
import { contentHash } from '../record/content-hash.js';
import { toFloat32Precision } from '../record/embedding-codec.js';
import type { Metadata } from '../record/types.js';

/** A store under test plus the hook that disposes of it. */
export interface RelationalStoreFixture {
  /** A fresh, empty store. The checks call `init()` themselves. */
  store: RelationalStore;
  /**
   * Closes the store (it may already be closed: `close()` is idempotent) and removes everything it
   * created (temp directory, database, schema, ...). Called once per check, also when the check failed.
   */
  cleanup(): Promise<void>;
}

/** Creates a fresh, empty, not yet initialised store. */
export type RelationalStoreFactory = () => Promise<RelationalStoreFixture>;

/** One contract check: opens its own store through the factory and rejects on a violation. */
export type RelationalStoreCheck = (factory: RelationalStoreFactory) => Promise<void>;

/** Base of the suite's injected clock, Unix ms. */
export const RELATIONAL_STORE_SUITE_T0 = 1_700_000_000_000;

/**
 * Ids that break naive SQL building or comparison: quotes, SQL and LIKE metacharacters, backslashes,
 * whitespace, unicode (emoji, CJK, combining marks, RTL override) and case / normalisation twins.
 * Each must be stored and fetched exactly, and must not match any other.
 */
export const RELATIONAL_STORE_SPECIAL_IDS: readonly string[] = Object.freeze([
  "a' OR '1'='1",
  '"; DROP TABLE x; --',
  "'; DELETE FROM records; --",
  "'",
  "''",
  '"',
  '%',
  '_',
  'a%',
  'a_',
  '%_%',
  '\\',
  'back\\slash',
  "\\'",
  '*',
  '?',
  '[x]',
  '/* comment */',
  '--',
  'NULL',
  'null',
  '0',
  'A',
  'a',
  'a ',
  ' a',
  'two  spaces',
  'tab\there',
  'new\nline',
  '😀',
  '🇺🇳',
  '中文字符',
  'é', // U+00E9, precomposed
  'e\u0301', // e + combining acute: canonically equivalent to the one above, but a different id
  'Z\u0351\u036b\u0343',
  '\u202eevil',
]);

/** Compares two strings by Unicode code point (= UTF-8 byte order, SQLite `BINARY` order). */
export function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** Adapter quirks and knobs for {@link relationalStoreSuite}. */
export interface RelationalStoreSuiteOptions {
  /**
   * Checks to skip, by name, each with the reason (shown in the test title). Use only for a documented
   * limitation of the backend; a skipped check is a contract gap to report.
   */
  skip?: Partial<Record<RelationalStoreCheckName, string>>;
  /** Per-test timeout in ms. Default 60,000. */
  timeoutMs?: number;
}

// ---------------------------------------------------------------------------------------------------
// helpers

const T0 = RELATIONAL_STORE_SUITE_T0;
const EMBEDDING = [0.1, -0.2, 1 / 3, 1e-8, 12_345.678, -3.4e38, 1e-45, 0.5];

/** Runs `fn` on a fresh, initialised store and always disposes of it. */
async function withStore(
  factory: RelationalStoreFactory,
  fn: (store: RelationalStore) => Promise<void>,
): Promise<void> {
  const fixture = await factory();
  let failure: unknown;
  try {
    await fixture.store.init();
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

function uid(label = 'id'): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

interface Put {
  id: string;
  text?: string;
  embedding?: readonly number[] | null;
  metadata?: Metadata;
  deleted?: boolean;
  /** `'own'`: the version being written (as sync-2pc does). Default `null`. */
  syncedVersion?: number | null | 'own';
  now?: number;
}

/** Writes records the way the strategies do (nextVersion + writeRecord + enqueue), in one transaction. */
async function putAll(store: RelationalStore, puts: readonly Put[]): Promise<number[]> {
  return store.transaction(async (tx) => {
    const versions: number[] = [];
    for (const p of puts) {
      const version = await tx.nextVersion();
      const text = p.text ?? `text of ${p.id}`;
      const metadata = p.metadata ?? {};
      const embedding = p.embedding === undefined ? EMBEDDING : p.embedding;
      const deleted = p.deleted ?? false;
      const now = p.now ?? T0;
      await tx.writeRecord({
        id: p.id,
        text,
        embedding,
        metadata,
        version,
        deleted,
        contentHash: contentHash(text, metadata, embedding),
        syncedVersion: p.syncedVersion === 'own' ? version : (p.syncedVersion ?? null),
        now,
      });
      await tx.enqueue(p.id, version, deleted ? 'delete' : 'upsert', now);
      versions.push(version);
    }
    return versions;
  });
}

async function put(store: RelationalStore, p: Put): Promise<number> {
  return (await putAll(store, [p]))[0]!;
}

async function claim(store: RelationalStore, now: number, limit = 100, owner = 'worker-1', leaseMs = 1_000) {
  return store.claimOutbox({ owner, limit, leaseMs, now });
}

/** Claims everything due at `now` and acks it at the entry's version. */
async function drain(store: RelationalStore, now: number): Promise<void> {
  for (;;) {
    const leases = await claim(store, now, 1_000);
    if (leases.length === 0) return;
    const outcomes = await store.ackOutbox(
      leases.map((l) => ({ recordId: l.recordId, leaseToken: l.leaseToken, appliedVersion: l.version })),
      now,
    );
    expect(outcomes, 'drain: every ack of a fresh lease is acked').toEqual(leases.map(() => 'acked'));
  }
}

function ackOf(lease: OutboxLease, appliedVersion = lease.version) {
  return { recordId: lease.recordId, leaseToken: lease.leaseToken, appliedVersion };
}

async function entryOf(store: RelationalStore, id: string): Promise<OutboxEntry> {
  const entry = await store.getOutboxEntry(id);
  expect(entry, `outbox entry for ${JSON.stringify(id)}`).toBeDefined();
  return entry!;
}

async function recordOf(store: RelationalStore, id: string, includeDeleted = false) {
  const record = (await store.getRecords([id], { includeDeleted })).get(id);
  expect(record, `record ${JSON.stringify(id)}`).toBeDefined();
  return record!;
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
async function expectCode(what: string, code: DualwriteErrorCode, fn: () => Promise<unknown>): Promise<void> {
  const error = await rejectionOf(what, fn);
  expect(error, `${what}: expected a ${code} error, got ${String(error)}`).toBeInstanceOf(Error);
  expect((error as { code?: unknown }).code, `${what}: wrong error code (${String(error)})`).toBe(code);
}

async function pageAll<T>(
  what: string,
  fetch: (opts: { after?: string; limit: number }) => Promise<T[]>,
  key: (item: T) => string,
  limit: number,
): Promise<T[]> {
  const all: T[] = [];
  let after: string | undefined;
  for (let page = 0; page < 1_000; page++) {
    const items = await fetch(after === undefined ? { limit } : { after, limit });
    expect(items.length, `${what}: page size`).toBeLessThanOrEqual(limit);
    all.push(...items);
    if (items.length < limit) return all;
    after = key(items[items.length - 1]!);
  }
  throw new Error(`${what}: pagination did not finish`);
}

function byCodePoint(ids: readonly string[]): string[] {
  return [...ids].sort(compareCodePoints);
}

// ---------------------------------------------------------------------------------------------------
// checks

/**
 * Every contract check, by name. Each takes a factory, opens its own fresh store, and rejects (with a
 * vitest assertion error) on the first contract violation.
 */
export const relationalStoreChecks = {
  // -- lifecycle -----------------------------------------------------------------------------------

  'init() is idempotent': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      await store.init();
      await store.init();
      expect(await store.countRecords(), 'a fresh store is empty').toBe(0);
      const id = uid();
      await put(store, { id });
      await store.init();
      expect((await store.getRecords([id])).has(id), 'init() keeps existing data').toBe(true);
    }),

  'close() is idempotent and every later call throws ClosedError': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      await put(store, { id: uid() });
      await store.close();
      await store.close();
      await expectCode('getRecords after close', 'CLOSED', () => store.getRecords(['x']));
      await expectCode('transaction after close', 'CLOSED', () => store.transaction(async () => 1));
      await expectCode('claimOutbox after close', 'CLOSED', () => claim(store, T0));
      await expectCode('countRecords after close', 'CLOSED', () => store.countRecords());
      await expectCode('outboxStats after close', 'CLOSED', () => store.outboxStats(T0));
      await expectCode('enqueueRepairs after close', 'CLOSED', () => store.enqueueRepairs(['x'], T0));
      await expectCode('getCachedEmbeddings after close', 'CLOSED', () => store.getCachedEmbeddings(['k']));
      await expectCode('init after close', 'CLOSED', () => store.init());
    }),

  // -- records -------------------------------------------------------------------------------------

  'a transaction writes a record and its outbox entry; getRecords reads it back exactly': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const id = uid('rec');
      const metadata: Metadata = {
        title: 'Hello',
        count: 42,
        ratio: 0.1,
        negative: -7,
        big: 2 ** 53 - 1,
        zero: 0,
        one: 1,
        yes: true,
        no: false,
        numeric: '42',
        truthy: 'true',
        empty: '',
        unicode: 'ünï 😀',
      };
      const text = 'the quick brown fox';
      const hash = contentHash(text, metadata, EMBEDDING);
      const result = await store.transaction(async (tx) => {
        expect(await tx.getRecord(id), 'tx.getRecord before the write').toBeUndefined();
        const version = await tx.nextVersion();
        await tx.writeRecord({
          id,
          text,
          embedding: EMBEDDING,
          metadata,
          version,
          deleted: false,
          contentHash: hash,
          syncedVersion: null,
          now: T0,
        });
        expect(await tx.getOutboxEntry(id), 'tx.getOutboxEntry before the enqueue').toBeUndefined();
        await tx.enqueue(id, version, 'upsert', T0);
        const own = await tx.getRecord(id);
        expect(own?.version, 'tx.getRecord sees the transaction’s own write').toBe(version);
        expect(
          await tx.getOutboxEntry(id),
          'tx.getOutboxEntry sees the transaction’s own enqueue',
        ).toMatchObject({
          recordId: id,
          version,
          op: 'upsert',
          state: 'pending',
        });
        return { version };
      });
      const { version } = result;
      expect(Number.isInteger(version) && version > 0, 'versions are positive integers').toBe(true);

      const record = await recordOf(store, id);
      expect(record).toStrictEqual({
        id,
        text,
        embedding: toFloat32Precision(EMBEDDING),
        metadata,
        version,
        deleted: false,
        contentHash: hash,
        syncedVersion: null,
        createdAt: T0,
        updatedAt: T0,
      });
      for (const [key, value] of Object.entries(metadata))
        expect(typeof record.metadata[key], `type of metadata.${key}`).toBe(typeof value);

      expect(await store.getOutboxEntry(id)).toMatchObject({
        recordId: id,
        version,
        op: 'upsert',
        state: 'pending',
        attempts: 0,
        nextAttemptAt: T0,
        enqueuedAt: T0,
        lastError: null,
      });

      // syncedVersion given at write time (sync-2pc) round-trips.
      const synced = uid('synced');
      const syncedVersion = await put(store, { id: synced, syncedVersion: 'own' });
      expect((await recordOf(store, synced)).syncedVersion, 'syncedVersion written by writeRecord').toBe(
        syncedVersion,
      );
    }),

  'a rewrite replaces the content, keeps createdAt and moves updatedAt': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const id = uid();
      const v1 = await put(store, { id, text: 'one', metadata: { a: 1 }, now: T0 });
      const v2 = await put(store, { id, text: 'two', metadata: { b: true }, embedding: null, now: T0 + 50 });
      expect(v2).toBeGreaterThan(v1);
      const record = await recordOf(store, id);
      expect(record).toMatchObject({
        text: 'two',
        metadata: { b: true },
        embedding: null,
        version: v2,
        deleted: false,
        createdAt: T0,
        updatedAt: T0 + 50,
      });
      expect(record.metadata, 'metadata is replaced, not merged').toStrictEqual({ b: true });
    }),

  'transaction() returns the callback value, and rolls everything back when the callback throws': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      expect(await store.transaction(async () => 42), 'transaction returns fn’s value').toBe(42);
      const id = uid('kept');
      const v1 = await put(store, { id, text: 'v1', now: T0 });
      const fresh = uid('fresh');
      const boom = new Error('boom');
      const error = await rejectionOf('transaction whose callback throws', () =>
        store.transaction(async (tx) => {
          const v = await tx.nextVersion();
          await tx.writeRecord({
            id,
            text: 'v2',
            embedding: null,
            metadata: {},
            version: v,
            deleted: false,
            contentHash: 'x',
            syncedVersion: null,
            now: T0 + 5,
          });
          await tx.enqueue(id, v, 'upsert', T0 + 5);
          const w = await tx.nextVersion();
          await tx.writeRecord({
            id: fresh,
            text: 'never',
            embedding: null,
            metadata: {},
            version: w,
            deleted: false,
            contentHash: 'x',
            syncedVersion: null,
            now: T0 + 5,
          });
          await tx.enqueue(fresh, w, 'upsert', T0 + 5);
          await tx.putIntent({ token: uid('tok'), recordId: fresh, version: w, expiresAt: T0 });
          throw boom;
        }),
      );
      expect(error, 'the callback’s error is rethrown').toBe(boom);
      expect((await store.getRecords([fresh], { includeDeleted: true })).size, 'rolled-back insert').toBe(0);
      expect(await store.getOutboxEntry(fresh), 'rolled-back enqueue').toBeUndefined();
      expect(await store.listExpiredIntents(T0 + 1_000, 10), 'rolled-back intent').toEqual([]);
      const kept = await recordOf(store, id);
      expect(kept.text, 'rolled-back update').toBe('v1');
      expect(kept.version).toBe(v1);
      expect((await entryOf(store, id)).version, 'rolled-back re-enqueue').toBe(v1);
      expect(await store.countRecords()).toBe(1);
    }),

  'nextVersion() is strictly increasing and never hands out a number twice': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const seen: number[] = [];
      for (let i = 0; i < 5; i++) seen.push(await store.transaction((tx) => tx.nextVersion()));
      const [a, b] = await store.transaction(async (tx) => [await tx.nextVersion(), await tx.nextVersion()]);
      seen.push(a!, b!);
      let drawn = 0;
      await rejectionOf('rolled-back transaction', () =>
        store.transaction(async (tx) => {
          drawn = await tx.nextVersion();
          throw new Error('rollback');
        }),
      );
      seen.push(drawn);
      seen.push(
        ...(await Promise.all(Array.from({ length: 8 }, () => store.transaction((tx) => tx.nextVersion())))),
      );
      seen.push(await store.transaction((tx) => tx.nextVersion()));
      for (const v of seen)
        expect(Number.isSafeInteger(v) && v > 0, `version ${v} is a positive integer`).toBe(true);
      expect(new Set(seen).size, `no version handed out twice: ${seen.join(',')}`).toBe(seen.length);
      const sequential = [...seen.slice(0, 8), seen[seen.length - 1]!];
      for (let i = 1; i < sequential.length; i++)
        expect(sequential[i], 'later transactions get higher versions').toBeGreaterThan(sequential[i - 1]!);
      expect(seen[seen.length - 1], 'after a rollback, versions keep increasing').toBeGreaterThan(drawn);
    }),

  'ids with quotes, SQL metacharacters, whitespace and unicode are stored exactly and match only themselves':
    (factory: RelationalStoreFactory) =>
      withStore(factory, async (store) => {
        const ids = RELATIONAL_STORE_SPECIAL_IDS;
        const versions = await putAll(
          store,
          ids.map((id) => ({ id, text: `text of ${JSON.stringify(id)}` })),
        );
        const all = await store.getRecords(ids);
        expect([...all.keys()].sort(), 'getRecords returns every special id exactly').toEqual(
          [...ids].sort(),
        );
        for (const [i, id] of ids.entries()) {
          const one = await store.getRecords([id]);
          expect([...one.keys()], `getRecords([${JSON.stringify(id)}])`).toEqual([id]);
          expect(one.get(id)!.id).toBe(id);
          expect(one.get(id)!.text).toBe(`text of ${JSON.stringify(id)}`);
          expect(one.get(id)!.version).toBe(versions[i]);
          expect((await entryOf(store, id)).recordId).toBe(id);
        }
        const lookalikes = ['a%x', '%%', 'A ', 'e', 'é ', '\\\\', "a' OR '1'='2", '😀😀', 'NUL'];
        expect(
          [...(await store.getRecords(lookalikes, { includeDeleted: true })).keys()],
          'absent look-alike ids match nothing',
        ).toEqual([]);
        const listed = await pageAll(
          'listVersions',
          (o) => store.listVersions(o),
          (v) => v.id,
          7,
        );
        expect(
          listed.map((v) => v.id),
          'listVersions lists special ids exactly, in code point order',
        ).toEqual(byCodePoint(ids));

        // The outbox keys by the same exact ids: claim and ack every one of them.
        const leases = await claim(store, T0, 1_000);
        expect(leases.map((l) => l.recordId).sort()).toEqual([...ids].sort());
        const outcomes = await store.ackOutbox(
          leases.map((l) => ackOf(l)),
          T0 + 1,
        );
        expect(outcomes).toEqual(leases.map(() => 'acked'));
        for (const [i, id] of ids.entries())
          expect((await recordOf(store, id)).syncedVersion, `syncedVersion of ${JSON.stringify(id)}`).toBe(
            versions[i],
          );
        expect((await store.outboxStats(T0 + 1)).depth).toBe(0);
      }),

  'empty text, ~1 MiB text and a null embedding round-trip': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const empty = uid('empty');
      const large = uid('large');
      const big = 'a€😀\u0301'.repeat(1_048_576 / 10); // 10 UTF-8 bytes per repetition
      await putAll(store, [
        { id: empty, text: '', embedding: null, metadata: {} },
        { id: large, text: big, embedding: null },
      ]);
      const records = await store.getRecords([empty, large]);
      expect(records.get(empty)!.text).toBe('');
      expect(records.get(empty)!.embedding).toBeNull();
      expect(records.get(empty)!.metadata).toStrictEqual({});
      const got = records.get(large)!.text;
      expect(got.length, 'large text length (UTF-16 units)').toBe(big.length);
      expect(got === big, 'large text round-trips byte for byte').toBe(true);
      expect(records.get(large)!.embedding).toBeNull();
    }),

  'getRecords omits missing ids and returns tombstones only with includeDeleted': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const live = uid('live');
      const gone = uid('gone');
      const missing = uid('missing');
      await put(store, { id: live });
      await put(store, { id: gone });
      const tombstone = await put(store, { id: gone, deleted: true, embedding: null, now: T0 + 1 });
      expect([...(await store.getRecords([live, gone, missing, live])).keys()]).toEqual([live]);
      const withDeleted = await store.getRecords([live, gone, missing], { includeDeleted: true });
      expect([...withDeleted.keys()].sort()).toEqual([gone, live].sort());
      expect(withDeleted.get(gone)).toMatchObject({ deleted: true, version: tombstone });
      expect(withDeleted.get(live)!.deleted).toBe(false);
      expect((await store.getRecords([])).size, 'no ids, no records').toBe(0);
      const many = Array.from({ length: 1_200 }, (_, i) => `${missing}-${i}`);
      expect([...(await store.getRecords([...many, live])).keys()], 'large id lists').toEqual([live]);
    }),

  'tombstones are hidden from listRecords and countRecords and listed by listVersions': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((p) => `${p}-${randomUUID().slice(0, 6)}`) as [
        string,
        string,
        string,
        string,
        string,
      ];
      const live = await putAll(store, [{ id: a }, { id: b }, { id: c }, { id: d }, { id: e }]);
      const dead = await putAll(store, [
        { id: b, deleted: true, embedding: null },
        { id: d, deleted: true, embedding: null },
      ]);
      expect(await store.countRecords()).toBe(3);
      const records = await store.listRecords({ limit: 100 });
      expect(records.map((r) => r.id)).toEqual([a, c, e]);
      for (const r of records) expect(r.deleted).toBe(false);
      expect(records[0]!.embedding).toEqual(toFloat32Precision(EMBEDDING));
      expect(await store.listVersions({ limit: 100 })).toEqual([
        { id: a, version: live[0], deleted: false },
        { id: b, version: dead[0], deleted: true },
        { id: c, version: live[2], deleted: false },
        { id: d, version: dead[1], deleted: true },
        { id: e, version: live[4], deleted: false },
      ]);
    }),

  'listVersions and listRecords page in code point order with after and limit': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      // U+FFFD and U+FF21 sort before U+1F600 by code point (and UTF-8 bytes), after it by UTF-16 units.
      const ids = [
        'a',
        'B',
        'b',
        'é',
        '😀',
        'z',
        '\uFFFD',
        '\uFF21',
        '中',
        'a b',
        'ab',
        'a\u0301',
        'Z',
        '0',
        '~',
      ];
      const tombstones = new Set(['b', '中', '\uFFFD']);
      await putAll(
        store,
        ids.map((id) => ({ id })),
      );
      await putAll(
        store,
        [...tombstones].map((id) => ({ id, deleted: true, embedding: null })),
      );
      const expected = byCodePoint(ids);
      expect(expected, 'sanity: code point order differs from UTF-16 order here').not.toEqual(
        [...ids].sort(),
      );
      for (const limit of [1, 3, 100]) {
        const versions = await pageAll(
          'listVersions',
          (o) => store.listVersions(o),
          (v) => v.id,
          limit,
        );
        expect(
          versions.map((v) => v.id),
          `listVersions pages of ${limit}`,
        ).toEqual(expected);
        for (const v of versions) expect(v.deleted, `deleted flag of ${v.id}`).toBe(tombstones.has(v.id));
        const records = await pageAll(
          'listRecords',
          (o) => store.listRecords(o),
          (r) => r.id,
          limit,
        );
        expect(
          records.map((r) => r.id),
          `listRecords pages of ${limit}`,
        ).toEqual(expected.filter((id) => !tombstones.has(id)));
      }
      expect(
        (await store.listVersions({ after: 'aa', limit: 100 })).map((v) => v.id),
        'after need not be an existing id',
      ).toEqual(expected.filter((id) => compareCodePoints(id, 'aa') > 0));
      expect(await store.listVersions({ after: '😀', limit: 100 }), 'nothing after the last id').toEqual([]);
    }),

  // -- embeddings and sync marks ---------------------------------------------------------------------

  'setEmbedding only applies while the record is still at the given version': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const id = uid();
      const v1 = await put(store, { id, embedding: null, text: 'first' });
      const e1 = [1.1, 2.2, 3.3];
      expect(await store.setEmbedding(id, v1 + 1_000, e1), 'wrong version').toBe(false);
      expect((await recordOf(store, id)).embedding).toBeNull();
      expect(await store.setEmbedding(id, v1, e1), 'matching version').toBe(true);
      const record = await recordOf(store, id);
      expect(record.embedding).toEqual(toFloat32Precision(e1));
      expect(record.version, 'setEmbedding does not change the version').toBe(v1);
      expect(record.text).toBe('first');
      await put(store, { id, embedding: null, text: 'second' });
      expect(await store.setEmbedding(id, v1, [9, 9, 9]), 'the record moved on').toBe(false);
      expect((await recordOf(store, id)).embedding).toBeNull();
      expect(await store.setEmbedding(uid('missing'), v1, e1), 'missing record').toBe(false);
    }),

  'markSynced only ever raises syncedVersion': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const id = uid();
      await put(store, { id });
      expect((await recordOf(store, id)).syncedVersion).toBeNull();
      await store.markSynced(id, 5);
      expect((await recordOf(store, id)).syncedVersion).toBe(5);
      await store.markSynced(id, 3);
      expect((await recordOf(store, id)).syncedVersion, 'a lower version does not lower it').toBe(5);
      await store.markSynced(id, 7);
      expect((await recordOf(store, id)).syncedVersion).toBe(7);
      await store.markSynced(uid('missing'), 1);
    }),

  // -- outbox: enqueue and claim ---------------------------------------------------------------------

  'enqueue coalesces to one entry per id: version and op replaced, enqueuedAt kept, attempts reset': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const id = uid();
      const v1 = await put(store, { id, now: T0 });
      const [lease] = await claim(store, T0);
      expect(lease?.version).toBe(v1);
      expect(
        await store.failOutbox({
          recordId: id,
          leaseToken: lease!.leaseToken,
          error: 'boom',
          permanent: false,
          maxAttempts: 5,
          retryAt: T0 + 50,
          now: T0 + 1,
        }),
      ).toBe('retry');
      expect((await entryOf(store, id)).attempts).toBe(1);
      const v2 = await put(store, { id, deleted: true, embedding: null, now: T0 + 100 });
      expect(await entryOf(store, id)).toMatchObject({
        recordId: id,
        version: v2,
        op: 'delete',
        state: 'pending',
        attempts: 0,
        nextAttemptAt: T0 + 100,
        enqueuedAt: T0,
      });
      const v3 = await put(store, { id, now: T0 + 200 });
      expect(await entryOf(store, id)).toMatchObject({ version: v3, op: 'upsert', enqueuedAt: T0 });
      const stats = await store.outboxStats(T0 + 200);
      expect(stats.depth, 'one entry per id').toBe(1);
      expect(stats.oldestPendingAt).toBe(T0);
      const leases = await claim(store, T0 + 200);
      expect(leases.map((l) => [l.recordId, l.version, l.op])).toEqual([[id, v3, 'upsert']]);
    }),

  'claimOutbox returns due entries oldest first, respects limit and sets the lease': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const [a, b, c, d] = [uid('a'), uid('b'), uid('c'), uid('d')];
      const [va, vb, vc] = await putAll(store, [
        { id: a, now: T0 + 30 },
        { id: b, now: T0 + 10 },
        { id: c, now: T0 + 20 },
        { id: d, now: T0 + 700 },
      ]);
      expect(await claim(store, T0 + 5), 'nothing is due yet').toEqual([]);
      const first = await store.claimOutbox({ owner: 'owner-1', limit: 2, leaseMs: 250, now: T0 + 500 });
      expect(
        first.map((l) => l.recordId),
        'oldest first, limit respected',
      ).toEqual([b, c]);
      expect(first[0]).toMatchObject({
        recordId: b,
        version: vb,
        op: 'upsert',
        state: 'pending',
        attempts: 0,
        nextAttemptAt: T0 + 10,
        enqueuedAt: T0 + 10,
        lastError: null,
        leaseOwner: 'owner-1',
        leaseUntil: T0 + 750,
      });
      expect(first[1]!.version).toBe(vc);
      for (const l of first) expect(typeof l.leaseToken === 'string' && l.leaseToken.length > 0).toBe(true);
      expect(first[0]!.leaseToken).not.toBe(first[1]!.leaseToken);
      const second = await claim(store, T0 + 500, 10);
      expect(second.map((l) => [l.recordId, l.version])).toEqual([[a, va]]);
      expect(await claim(store, T0 + 500, 10), 'everything due is leased').toEqual([]);
      expect(await claim(store, T0 + 699, 10), 'd is not due yet').toEqual([]);
      expect(
        (await claim(store, T0 + 700, 10)).map((l) => l.recordId),
        'd becomes due',
      ).toEqual([d]);
    }),

  'two claims never return the same entry while its lease is live': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const ids = Array.from({ length: 20 }, () => uid());
      await putAll(
        store,
        ids.map((id) => ({ id, now: T0 })),
      );
      const a = await claim(store, T0 + 1, 7, 'A', 10_000);
      const b = await claim(store, T0 + 2, 7, 'B', 10_000);
      const c = await claim(store, T0 + 3, 100, 'C', 10_000);
      expect([a.length, b.length, c.length]).toEqual([7, 7, 6]);
      const claimed = [...a, ...b, ...c].map((l) => l.recordId);
      expect(new Set(claimed).size, 'no id claimed twice').toBe(20);
      expect(new Set(claimed)).toEqual(new Set(ids));
      expect(await claim(store, T0 + 4, 100, 'D'), 'all leased').toEqual([]);

      const more = Array.from({ length: 20 }, () => uid('more'));
      await putAll(
        store,
        more.map((id) => ({ id, now: T0 + 5 })),
      );
      const concurrent = await Promise.all(
        ['E', 'F', 'G', 'H'].map((owner) => claim(store, T0 + 6, 10, owner, 10_000)),
      );
      const got = concurrent.flat().map((l) => l.recordId);
      expect(new Set(got).size, 'concurrent claims are disjoint').toBe(got.length);
      expect(new Set(got)).toEqual(new Set(more));
      expect((await store.outboxStats(T0 + 7)).inFlight).toBe(40);
    }),

  'an expired lease is claimable again and the old token can no longer ack, fail or release': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const id = uid();
      const version = await put(store, { id, now: T0 });
      const [a] = await claim(store, T0, 10, 'A', 1_000);
      expect(a?.leaseUntil).toBe(T0 + 1_000);
      expect(await claim(store, T0 + 999, 10, 'B'), 'lease still live at leaseUntil - 1').toEqual([]);
      const [b] = await claim(store, T0 + 1_000, 10, 'B', 1_000);
      expect(b, 'claimable once now >= leaseUntil').toBeDefined();
      expect(b!.recordId).toBe(id);
      expect(b!.leaseOwner).toBe('B');
      expect(b!.leaseToken).not.toBe(a!.leaseToken);

      expect(await store.ackOutbox([ackOf(a!)], T0 + 1_001), 'old token acks').toEqual(['lease-lost']);
      expect(await store.getOutboxEntry(id), 'the entry survives a lost-lease ack').toBeDefined();
      expect(
        await store.failOutbox({
          recordId: id,
          leaseToken: a!.leaseToken,
          error: 'late',
          permanent: true,
          maxAttempts: 1,
          retryAt: T0 + 2_000,
          now: T0 + 1_002,
        }),
        'old token fails',
      ).toBe('lease-lost');
      expect(await entryOf(store, id)).toMatchObject({ state: 'pending', attempts: 0 });
      await store.releaseOutbox([{ recordId: id, leaseToken: a!.leaseToken }], T0);
      expect(await claim(store, T0 + 1_003, 10, 'C'), 'old token cannot release B’s lease').toEqual([]);

      expect(await store.ackOutbox([ackOf(b!)], T0 + 1_004)).toEqual(['acked']);
      expect(await store.getOutboxEntry(id)).toBeUndefined();
      // A delivery that lands after someone else finished: lease-lost, and a repair converges the index.
      expect(await store.ackOutbox([ackOf(a!)], T0 + 1_005)).toEqual(['lease-lost']);
      expect(await entryOf(store, id)).toMatchObject({ version, op: 'upsert', state: 'pending' });
    }),

  // -- outbox: ack ---------------------------------------------------------------------------------

  'ackOutbox acks in order: entry removed and syncedVersion recorded': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const [a, b, c] = [uid('a'), uid('b'), uid('c')];
      const versions = await putAll(store, [{ id: a }, { id: b }, { id: c }]);
      const leases = await claim(store, T0);
      const byId = new Map(leases.map((l) => [l.recordId, l]));
      const outcomes = await store.ackOutbox(
        [ackOf(byId.get(a)!), { ...ackOf(byId.get(b)!), leaseToken: 'not-the-token' }, ackOf(byId.get(c)!)],
        T0 + 1,
      );
      expect(outcomes, 'one outcome per ack, in order').toEqual(['acked', 'lease-lost', 'acked']);
      expect(await store.getOutboxEntry(a)).toBeUndefined();
      expect(await store.getOutboxEntry(c)).toBeUndefined();
      expect(await store.getOutboxEntry(b), 'b was not acked').toBeDefined();
      expect((await recordOf(store, a)).syncedVersion).toBe(versions[0]);
      expect((await recordOf(store, c)).syncedVersion).toBe(versions[2]);
      expect((await recordOf(store, b)).syncedVersion).toBeNull();
      expect(await store.ackOutbox([], T0 + 2)).toEqual([]);
    }),

  'ackOutbox reports superseded when a newer version was enqueued under the lease': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const id = uid();
      const v1 = await put(store, { id, now: T0 });
      const [lease] = await claim(store, T0, 10, 'A', 1_000);
      expect(
        await store.transaction((tx) => tx.getOutboxEntry(id)),
        'tx.getOutboxEntry of a leased entry',
      ).toMatchObject({ recordId: id, version: v1, state: 'pending' });
      const v2 = await put(store, { id, text: 'newer', now: T0 + 10 });
      expect(await claim(store, T0 + 20, 10, 'B'), 'enqueue leaves the lease in place').toEqual([]);
      expect(await store.ackOutbox([ackOf(lease!, v1)], T0 + 30)).toEqual(['superseded']);
      expect(await entryOf(store, id)).toMatchObject({ version: v2, state: 'pending', attempts: 0 });
      expect((await recordOf(store, id)).syncedVersion, 'the applied version is recorded').toBe(v1);
      expect((await store.outboxStats(T0 + 30)).inFlight, 'lease cleared').toBe(0);
      const [again] = await claim(store, T0 + 30, 10, 'B');
      expect(again, 'immediately claimable').toBeDefined();
      expect(again!.version).toBe(v2);
      expect(again!.leaseToken).not.toBe(lease!.leaseToken);
      expect(await store.ackOutbox([ackOf(again!)], T0 + 40)).toEqual(['acked']);
      expect((await recordOf(store, id)).syncedVersion).toBe(v2);
      expect(await store.getOutboxEntry(id)).toBeUndefined();
    }),

  'a lost-lease ack enqueues a repair of the current state': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const live = uid('live');
      const gone = uid('gone');
      const vLive = await put(store, { id: live, now: T0 });
      await put(store, { id: gone, now: T0 });
      await drain(store, T0);
      await put(store, { id: gone, deleted: true, embedding: null, now: T0 + 1 });
      await put(store, { id: live, text: 'again', now: T0 + 1 });
      const first = await claim(store, T0 + 1, 10, 'A', 100);
      expect(first).toHaveLength(2);
      const second = await claim(store, T0 + 101, 10, 'B', 100);
      expect(second).toHaveLength(2);
      expect(
        await store.ackOutbox(
          second.map((l) => ackOf(l)),
          T0 + 102,
        ),
      ).toEqual(['acked', 'acked']);
      expect((await store.getRecords([gone], { includeDeleted: true })).size, 'tombstone purged').toBe(0);
      const late = await store.ackOutbox(
        first.map((l) => ackOf(l)),
        T0 + 103,
      );
      expect(late).toEqual(['lease-lost', 'lease-lost']);
      const current = await recordOf(store, live);
      expect(current.version).toBeGreaterThan(vLive);
      expect(await entryOf(store, live)).toMatchObject({
        op: 'upsert',
        version: current.version,
        state: 'pending',
      });
      expect(await entryOf(store, gone), 'missing record → delete').toMatchObject({
        op: 'delete',
        state: 'pending',
      });
      expect((await claim(store, T0 + 103)).map((l) => l.recordId).sort()).toEqual([gone, live].sort());
    }),

  'a tombstone is kept while a sync-2pc intent for its record exists; countIntents counts them': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const id = uid('intent-guarded');
      await putAll(store, [{ id }]);
      await drain(store, T0);
      await putAll(store, [{ id, deleted: true, embedding: null, now: T0 + 10 }]);
      const token = uid('token');
      await store.transaction(async (tx) => {
        expect(await tx.countIntents(id)).toBe(0);
        await tx.putIntent({ token, recordId: id, version: 1, expiresAt: T0 + 1_000_000 });
        expect(await tx.countIntents(id)).toBe(1);
      });
      const [lease] = await claim(store, T0 + 10);
      expect(await store.ackOutbox([ackOf(lease!)], T0 + 20)).toEqual(['acked']);
      expect(
        (await store.getRecords([id], { includeDeleted: true })).get(id),
        'tombstone kept',
      ).toMatchObject({
        deleted: true,
      });
      await store.transaction(async (tx) => {
        expect(await tx.deleteIntent(token)).toBe(true);
        expect(await tx.countIntents(id)).toBe(0);
      });
    }),

  'acking the delete of a tombstone purges it, unless the record was written again': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const purged = uid('purged');
      const revived = uid('revived');
      const keep = uid('keep');
      await putAll(store, [{ id: purged }, { id: revived }, { id: keep }]);
      await drain(store, T0);
      const [vp, vr] = await putAll(store, [
        { id: purged, deleted: true, embedding: null, now: T0 + 10 },
        { id: revived, deleted: true, embedding: null, now: T0 + 10 },
      ]);
      expect((await entryOf(store, purged)).op).toBe('delete');
      const leases = await claim(store, T0 + 10);
      const byId = new Map(leases.map((l) => [l.recordId, l]));
      expect(byId.get(purged)).toMatchObject({ op: 'delete', version: vp });
      const v3 = await put(store, { id: revived, text: 'back', now: T0 + 20 });
      const outcomes = await store.ackOutbox(
        [ackOf(byId.get(purged)!), ackOf(byId.get(revived)!, vr)],
        T0 + 30,
      );
      expect(outcomes).toEqual(['acked', 'superseded']);
      expect((await store.getRecords([purged], { includeDeleted: true })).size, 'tombstone purged').toBe(0);
      expect((await store.listVersions({ limit: 100 })).map((v) => v.id)).not.toContain(purged);
      expect(await store.getOutboxEntry(purged)).toBeUndefined();
      expect(await recordOf(store, revived)).toMatchObject({ deleted: false, version: v3, text: 'back' });
      expect(await entryOf(store, revived)).toMatchObject({ op: 'upsert', version: v3 });
      expect(await store.countRecords()).toBe(2);
    }),

  // -- outbox: failures, dead letters, release ---------------------------------------------------------

  'failOutbox charges an attempt and reschedules exactly at retryAt': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const id = uid();
      await put(store, { id, now: T0 });
      const [lease] = await claim(store, T0);
      const outcome = await store.failOutbox({
        recordId: id,
        leaseToken: lease!.leaseToken,
        error: 'boom 1',
        permanent: false,
        maxAttempts: 5,
        retryAt: T0 + 500,
        now: T0 + 10,
      });
      expect(outcome).toBe('retry');
      expect(await entryOf(store, id)).toMatchObject({
        state: 'pending',
        attempts: 1,
        lastError: 'boom 1',
        nextAttemptAt: T0 + 500,
      });
      expect(await store.outboxStats(T0 + 10)).toMatchObject({ depth: 1, inFlight: 0 });
      expect(await claim(store, T0 + 499), 'not before retryAt').toEqual([]);
      const [again] = await claim(store, T0 + 500);
      expect(again, 'claimable at retryAt').toMatchObject({ recordId: id, attempts: 1, lastError: 'boom 1' });
    }),

  'failOutbox dead-letters once maxAttempts are charged': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const id = uid();
      await put(store, { id, now: T0 });
      const outcomes: string[] = [];
      let now = T0;
      for (let attempt = 1; attempt <= 3; attempt++) {
        const [lease] = await claim(store, now);
        expect(lease, `claim before attempt ${attempt}`).toBeDefined();
        outcomes.push(
          await store.failOutbox({
            recordId: id,
            leaseToken: lease!.leaseToken,
            error: `boom ${attempt}`,
            permanent: false,
            maxAttempts: 3,
            retryAt: now + 100,
            now,
          }),
        );
        now += 100;
      }
      expect(outcomes).toEqual(['retry', 'retry', 'dead']);
      expect(await entryOf(store, id)).toMatchObject({ state: 'dead', attempts: 3, lastError: 'boom 3' });
      expect(await claim(store, T0 + 10_000_000), 'dead letters are not claimable').toEqual([]);
      const dead = await store.listDeadLetters({ limit: 10 });
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ recordId: id, state: 'dead', attempts: 3, lastError: 'boom 3' });
      expect(await store.outboxStats(now)).toEqual({
        depth: 0,
        inFlight: 0,
        deadLetters: 1,
        oldestPendingAt: null,
      });
      expect(await store.maxPendingVersion(), 'dead letters are not pending').toBeNull();
    }),

  'a permanent failure dead-letters at once': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const id = uid();
      await put(store, { id, now: T0 });
      const [lease] = await claim(store, T0);
      expect(
        await store.failOutbox({
          recordId: id,
          leaseToken: lease!.leaseToken,
          error: 'rejected: bad dimension',
          permanent: true,
          maxAttempts: 10,
          retryAt: T0 + 100,
          now: T0 + 1,
        }),
      ).toBe('dead');
      expect(await entryOf(store, id)).toMatchObject({
        state: 'dead',
        attempts: 1,
        lastError: 'rejected: bad dimension',
      });
      expect(await claim(store, T0 + 100_000)).toEqual([]);
    }),

  'requeueDeadLetters moves all, or the given, dead letters back to pending with attempts reset': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const ids = [uid('a'), uid('b'), uid('c')];
      const pendingId = uid('pending');
      await putAll(
        store,
        ids.map((id) => ({ id, now: T0 })),
      );
      for (const lease of await claim(store, T0))
        await store.failOutbox({
          recordId: lease.recordId,
          leaseToken: lease.leaseToken,
          error: 'nope',
          permanent: true,
          maxAttempts: 5,
          retryAt: T0,
          now: T0,
        });
      await put(store, { id: pendingId, now: T0 + 1 });
      expect((await store.outboxStats(T0 + 1)).deadLetters).toBe(3);
      expect(await store.requeueDeadLetters([ids[0]!, uid('missing'), pendingId], T0 + 50)).toBe(1);
      expect(await entryOf(store, ids[0]!)).toMatchObject({
        state: 'pending',
        attempts: 0,
        nextAttemptAt: T0 + 50,
      });
      expect(await entryOf(store, ids[1]!)).toMatchObject({ state: 'dead' });
      expect((await claim(store, T0 + 50)).map((l) => l.recordId).sort()).toEqual([ids[0], pendingId].sort());
      expect(await store.requeueDeadLetters(undefined, T0 + 60)).toBe(2);
      expect(await store.listDeadLetters({ limit: 10 })).toEqual([]);
      const rest = await claim(store, T0 + 60);
      expect(rest.map((l) => l.recordId).sort()).toEqual([ids[1], ids[2]].sort());
      for (const l of rest) expect(l.attempts).toBe(0);
      expect(await store.requeueDeadLetters(undefined, T0 + 70)).toBe(0);
    }),

  'listDeadLetters pages by record id': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const ids = Array.from({ length: 5 }, () => uid('dl'));
      await putAll(
        store,
        ids.map((id) => ({ id })),
      );
      for (const lease of await claim(store, T0))
        await store.failOutbox({
          recordId: lease.recordId,
          leaseToken: lease.leaseToken,
          error: `failed ${lease.recordId}`,
          permanent: true,
          maxAttempts: 5,
          retryAt: T0,
          now: T0,
        });
      const dead = await pageAll(
        'listDeadLetters',
        (o) => store.listDeadLetters(o),
        (e) => e.recordId,
        2,
      );
      expect(dead.map((e) => e.recordId)).toEqual(byCodePoint(ids));
      for (const e of dead) expect(e).toMatchObject({ state: 'dead', lastError: `failed ${e.recordId}` });
    }),

  'a new enqueue on a dead-lettered id makes it pending again': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const id = uid();
      await put(store, { id, now: T0 });
      const [lease] = await claim(store, T0);
      await store.failOutbox({
        recordId: id,
        leaseToken: lease!.leaseToken,
        error: 'nope',
        permanent: true,
        maxAttempts: 5,
        retryAt: T0,
        now: T0,
      });
      expect(
        await store.transaction((tx) => tx.getOutboxEntry(id)),
        'tx.getOutboxEntry of a dead letter',
      ).toMatchObject({ recordId: id, state: 'dead', attempts: 1 });
      const v2 = await put(store, { id, text: 'fixed', now: T0 + 100 });
      expect(await entryOf(store, id)).toMatchObject({
        state: 'pending',
        attempts: 0,
        version: v2,
        nextAttemptAt: T0 + 100,
        enqueuedAt: T0 + 100,
      });
      expect(await store.listDeadLetters({ limit: 10 })).toEqual([]);
      expect((await claim(store, T0 + 100)).map((l) => l.version)).toEqual([v2]);
    }),

  'releaseOutbox gives leases back without charging an attempt': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const id = uid();
      await put(store, { id, now: T0 });
      const [lease] = await claim(store, T0, 10, 'A', 1_000);
      await store.releaseOutbox([{ recordId: id, leaseToken: 'not-the-token' }], T0 + 5);
      expect(await claim(store, T0 + 10), 'a wrong token releases nothing').toEqual([]);
      await store.releaseOutbox([{ recordId: id, leaseToken: lease!.leaseToken }], T0 + 300);
      expect(await entryOf(store, id)).toMatchObject({
        state: 'pending',
        attempts: 0,
        nextAttemptAt: T0 + 300,
      });
      expect((await store.outboxStats(T0 + 20)).inFlight).toBe(0);
      expect(await claim(store, T0 + 299), 'not before retryAt').toEqual([]);
      expect((await claim(store, T0 + 300)).map((l) => [l.recordId, l.attempts])).toEqual([[id, 0]]);
    }),

  // -- outbox: gauges and lookups ----------------------------------------------------------------------

  'outboxStats reports depth, inFlight, deadLetters and oldestPendingAt': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      expect(await store.outboxStats(T0)).toEqual({
        depth: 0,
        inFlight: 0,
        deadLetters: 0,
        oldestPendingAt: null,
      });
      const dead = uid('dead');
      await put(store, { id: dead, now: T0 + 5 });
      const [d] = await claim(store, T0 + 5);
      await store.failOutbox({
        recordId: dead,
        leaseToken: d!.leaseToken,
        error: 'x',
        permanent: true,
        maxAttempts: 1,
        retryAt: T0,
        now: T0 + 5,
      });
      const [a, b, c] = [uid('a'), uid('b'), uid('c')];
      await putAll(store, [
        { id: a, now: T0 + 10 },
        { id: b, now: T0 + 20 },
        { id: c, now: T0 + 30 },
      ]);
      const [leased] = await claim(store, T0 + 30, 1, 'A', 100);
      expect(leased!.recordId).toBe(a);
      expect(await store.outboxStats(T0 + 50)).toEqual({
        depth: 3,
        inFlight: 1,
        deadLetters: 1,
        oldestPendingAt: T0 + 10,
      });
      expect((await store.outboxStats(T0 + 130)).inFlight, 'an expired lease is not in flight').toBe(0);
    }),

  'maxPendingVersion is the highest undelivered version, or null': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      expect(await store.maxPendingVersion()).toBeNull();
      const [a, b, c] = [uid('a'), uid('b'), uid('c')];
      const [va, vb, vc] = await putAll(store, [{ id: a }, { id: b }, { id: c }]);
      expect(await store.maxPendingVersion()).toBe(vc);
      const leases = new Map((await claim(store, T0)).map((l) => [l.recordId, l]));
      expect(await store.maxPendingVersion(), 'leased entries are not delivered yet').toBe(vc);
      await store.ackOutbox([ackOf(leases.get(c)!)], T0);
      expect(await store.maxPendingVersion()).toBe(vb);
      await store.failOutbox({
        recordId: b,
        leaseToken: leases.get(b)!.leaseToken,
        error: 'x',
        permanent: true,
        maxAttempts: 1,
        retryAt: T0,
        now: T0,
      });
      expect(await store.maxPendingVersion(), 'dead letters do not count').toBe(va);
      await store.ackOutbox([ackOf(leases.get(a)!)], T0);
      expect(await store.maxPendingVersion()).toBeNull();
    }),

  'getOutboxEntry returns the entry in either state, or undefined': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      expect(await store.getOutboxEntry(uid('unknown'))).toBeUndefined();
      const [a, b] = [uid('a'), uid('b')];
      const [va, vb] = await putAll(store, [{ id: a }, { id: b, deleted: true, embedding: null }]);
      expect(await store.getOutboxEntry(a)).toMatchObject({
        recordId: a,
        version: va,
        op: 'upsert',
        state: 'pending',
      });
      expect(await store.getOutboxEntry(b)).toMatchObject({
        recordId: b,
        version: vb,
        op: 'delete',
        state: 'pending',
      });
      const leases = new Map((await claim(store, T0)).map((l) => [l.recordId, l]));
      await store.failOutbox({
        recordId: b,
        leaseToken: leases.get(b)!.leaseToken,
        error: 'x',
        permanent: true,
        maxAttempts: 1,
        retryAt: T0,
        now: T0,
      });
      expect(await store.getOutboxEntry(b)).toMatchObject({ state: 'dead' });
      await store.ackOutbox([ackOf(leases.get(a)!)], T0);
      expect(await store.getOutboxEntry(a), 'acked entries are gone').toBeUndefined();
    }),

  // -- sync-2pc intents ------------------------------------------------------------------------------

  'putIntent and deleteIntent run inside transactions; listExpiredIntents returns expiresAt <= now': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const intent = (expiresAt: number): TwoPhaseIntent => ({
        token: uid('tok'),
        recordId: uid('rec'),
        version: 7,
        expiresAt,
      });
      const [i1, i2, i3] = [intent(T0 + 100), intent(T0 + 200), intent(T0 + 300)];
      await store.transaction(async (tx) => {
        await tx.putIntent(i1);
        await tx.putIntent(i2);
        await tx.putIntent(i3);
      });
      const i4 = intent(T0);
      await rejectionOf('rolled-back putIntent', () =>
        store.transaction(async (tx) => {
          await tx.putIntent(i4);
          throw new Error('rollback');
        }),
      );
      expect(await store.listExpiredIntents(T0 + 99, 10)).toEqual([]);
      expect(await store.listExpiredIntents(T0 + 100, 10), 'expiresAt <= now').toEqual([i1]);
      expect(await store.listExpiredIntents(T0 + 1_000, 2), 'at most limit').toHaveLength(2);
      expect(await store.transaction((tx) => tx.deleteIntent(i2.token))).toBe(true);
      expect(await store.transaction((tx) => tx.deleteIntent(i2.token)), 'already gone').toBe(false);
      const left = await store.listExpiredIntents(T0 + 1_000, 10);
      expect(left.map((i) => i.token).sort()).toEqual([i1.token, i3.token].sort());
      expect(left.find((i) => i.token === i3.token)).toEqual(i3);
    }),

  'resolveIntent deletes the intent and enqueues a repair; false the second time': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const live = uid('live');
      const missing = uid('missing');
      const v = await put(store, { id: live, now: T0 });
      await drain(store, T0);
      const i1: TwoPhaseIntent = { token: uid('tok'), recordId: live, version: v + 100, expiresAt: T0 + 10 };
      const i2: TwoPhaseIntent = {
        token: uid('tok'),
        recordId: missing,
        version: v + 101,
        expiresAt: T0 + 10,
      };
      await store.transaction(async (tx) => {
        await tx.putIntent(i1);
        await tx.putIntent(i2);
      });
      expect(await store.getOutboxEntry(live)).toBeUndefined();
      expect(await store.resolveIntent(i1.token, T0 + 20)).toBe(true);
      expect(await entryOf(store, live)).toMatchObject({
        op: 'upsert',
        version: v,
        state: 'pending',
        nextAttemptAt: T0 + 20,
      });
      expect(await store.resolveIntent(i1.token, T0 + 21), 'already resolved').toBe(false);
      expect(await store.resolveIntent(i2.token, T0 + 22)).toBe(true);
      expect(await entryOf(store, missing)).toMatchObject({ op: 'delete', state: 'pending' });
      expect(await store.listExpiredIntents(T0 + 1_000, 10)).toEqual([]);
      expect(await store.resolveIntent(uid('never'), T0)).toBe(false);
    }),

  // -- embedding cache and repairs -------------------------------------------------------------------

  'the embedding cache stores, replaces and omits missing keys': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const [k1, k2, k3] = [uid('hash:k1'), uid('hash:k2'), uid('hash:k3')];
      const e1 = [0.1, 0.2, 0.3];
      const e2 = [1 / 3, -2 / 3];
      await store.putCachedEmbeddings([
        { key: k1, embedding: e1 },
        { key: k2, embedding: e2 },
      ]);
      const got = await store.getCachedEmbeddings([k1, k2, k3]);
      expect([...got.keys()].sort()).toEqual([k1, k2].sort());
      expect(got.get(k1)).toEqual(toFloat32Precision(e1));
      expect(got.get(k2)).toEqual(toFloat32Precision(e2));
      await store.putCachedEmbeddings([{ key: k1, embedding: [9, 8, 7] }]);
      expect((await store.getCachedEmbeddings([k1])).get(k1), 'replaced').toEqual([9, 8, 7]);
      expect((await store.getCachedEmbeddings([])).size).toBe(0);
      await store.putCachedEmbeddings([]);
    }),

  'enqueueRepairs enqueues upsert for live records and delete for tombstones and missing ids': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const [live, tomb, missing] = [uid('live'), uid('tomb'), uid('missing')];
      const [vLive] = await putAll(store, [{ id: live }, { id: tomb }]);
      await drain(store, T0);
      const vTomb = await put(store, { id: tomb, deleted: true, embedding: null, now: T0 + 1 });
      expect(await store.getOutboxEntry(live)).toBeUndefined();
      expect(await store.enqueueRepairs([live, tomb, missing], T0 + 100)).toBe(3);
      expect(await entryOf(store, live)).toMatchObject({
        op: 'upsert',
        version: vLive,
        state: 'pending',
        attempts: 0,
        nextAttemptAt: T0 + 100,
        enqueuedAt: T0 + 100,
      });
      expect(await entryOf(store, tomb)).toMatchObject({ op: 'delete', version: vTomb, state: 'pending' });
      expect(await entryOf(store, missing)).toMatchObject({ op: 'delete', state: 'pending' });
      expect(await store.enqueueRepairs([], T0 + 100)).toBe(0);
    }),

  // -- integrity primitives -----------------------------------------------------------------------

  'nextVersion(atLeast) moves the sequence past atLeast for good; currentVersion reports the highest drawn': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      expect(await store.currentVersion(), 'a new store has handed out nothing').toBe(0);
      const first = await store.transaction((tx) => tx.nextVersion());
      expect(await store.currentVersion()).toBe(first);
      const jumped = await store.transaction((tx) => tx.nextVersion(first + 1_000));
      expect(jumped, 'above atLeast').toBeGreaterThan(first + 1_000);
      expect(await store.currentVersion()).toBe(jumped);
      const after = await store.transaction((tx) => tx.nextVersion());
      expect(after, 'later draws stay above the jump').toBeGreaterThan(jumped);
      const lower = await store.transaction((tx) => tx.nextVersion(1));
      expect(lower, 'a lower atLeast never moves the sequence back').toBeGreaterThan(after);
      const concurrent = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          store.transaction((tx) => tx.nextVersion(i % 2 ? lower + 50 : 0)),
        ),
      );
      expect(new Set(concurrent).size, `no version twice: ${concurrent.join(',')}`).toBe(concurrent.length);
    }),

  'renewOutbox extends only leases still held under their token': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const [lost, kept, acked] = [uid('lost'), uid('kept'), uid('acked')];
      await put(store, { id: lost, now: T0 });
      await putAll(store, [
        { id: kept, now: T0 + 1 },
        { id: acked, now: T0 + 1 },
      ]);
      const [short] = await claim(store, T0 + 1, 1, 'A', 100);
      expect(short?.recordId, 'oldest first').toBe(lost);
      const long = await claim(store, T0 + 1, 10, 'A', 100_000);
      expect(long.map((l) => l.recordId).sort()).toEqual([kept, acked].sort());
      const taken = await claim(store, T0 + 200, 10, 'B', 1_000);
      expect(
        taken.map((l) => l.recordId),
        'only the expired lease is taken',
      ).toEqual([lost]);
      const ackedLease = long.find((l) => l.recordId === acked)!;
      expect(await store.ackOutbox([ackOf(ackedLease)], T0 + 201)).toEqual(['acked']);
      const renewed = await store.renewOutbox([short!, ...long], T0 + 500_000);
      expect(renewed, 'lost (taken by B) and acked (gone) are not renewed').toEqual([kept]);
      expect(await store.renewOutbox([], T0)).toEqual([]);
      expect(
        (await claim(store, T0 + 100_001, 10, 'C')).map((l) => l.recordId),
        'the renewed lease outlives its first expiry',
      ).not.toContain(kept);
    }),

  'getMeta/setMeta store, replace and remove values by key': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const key = uid('meta');
      expect(await store.getMeta(key)).toBeUndefined();
      const value = JSON.stringify({ backend: 'x', location: "/tmp/it's", text: '中文 😀' });
      await store.setMeta(key, value);
      expect(await store.getMeta(key)).toBe(value);
      await store.setMeta(key, 'replaced');
      expect(await store.getMeta(key)).toBe('replaced');
      expect(await store.getMeta(`${key}-other`), 'keys match exactly').toBeUndefined();
      await store.setMeta(key, null);
      expect(await store.getMeta(key)).toBeUndefined();
      await expectCode('empty key', 'VALIDATION', () => store.getMeta(''));
    }),
} satisfies Record<string, RelationalStoreCheck>;

/** Name of one check in {@link relationalStoreChecks}. */
export type RelationalStoreCheckName = keyof typeof relationalStoreChecks;

/**
 * Registers the RelationalStore contract suite with vitest: one `describe(\`RelationalStore contract:
 * ${name}\`)` with one test per check in {@link relationalStoreChecks}, each on a fresh store from
 * `factory`.
 *
 * @example
 * ```ts
 * relationalStoreSuite('sqlite', async () => {
 *   const dir = await mkdtemp(join(tmpdir(), 'dw-'));
 *   const store = new SqliteRelationalStore({ path: join(dir, 'db.sqlite') });
 *   return { store, cleanup: async () => { await store.close(); await rm(dir, { recursive: true }); } };
 * });
 * ```
 */
export function relationalStoreSuite(
  name: string,
  factory: RelationalStoreFactory,
  options: RelationalStoreSuiteOptions = {},
): void {
  const timeout = options.timeoutMs ?? 60_000;
  describe(`RelationalStore contract: ${name}`, () => {
    for (const [checkName, check] of Object.entries(relationalStoreChecks)) {
      const reason = options.skip?.[checkName as RelationalStoreCheckName];
      if (reason !== undefined) it.skip(`${checkName} (skipped: ${reason})`, () => {});
      else it(checkName, () => check(factory), timeout);
    }
  });
}
