import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { countLiveRecords, readOutboxEntry } from '../../contracts/relational-operations.js';
import { contentHash } from '../../record/content-hash.js';
import { toFloat32Precision } from '../../record/embedding-codec.js';
import type { Metadata } from '../../record/types.js';
import {
  ackOf,
  byCodePoint,
  claim,
  compareCodePoints,
  EMBEDDING,
  entryOf,
  pageAll,
  put,
  putAll,
  RELATIONAL_STORE_SPECIAL_IDS,
  type RelationalStoreCheck,
  type RelationalStoreFactory,
  recordOf,
  rejectionOf,
  T0,
  uid,
  withStore,
} from './helpers.js';

/** RelationalStore contract checks: records. */
export const recordsChecks = {
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
      // A transaction's first read of an id also takes its lock (one statement on some dialects): same record.
      expect(
        await store.transaction((tx) => tx.getRecord(id)),
        'tx.getRecord of a committed record, as its first read in a transaction',
      ).toStrictEqual(record);

      expect(await readOutboxEntry(store, id)).toMatchObject({
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
      // With the same text too: a null embedding is written (an embedder change clears embeddings so).
      await put(store, { id, text: 'two', metadata: { b: true }, embedding: EMBEDDING, now: T0 + 60 });
      await put(store, { id, text: 'two', metadata: { b: true }, embedding: null, now: T0 + 70 });
      expect((await recordOf(store, id)).embedding, 'a rewrite with a null embedding clears it').toBeNull();
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
          await tx.putIntent?.({ token: uid('tok'), recordId: fresh, version: w, expiresAt: T0 });
          throw boom;
        }),
      );
      expect(error, 'the callback’s error is rethrown').toBe(boom);
      expect((await store.getRecords([fresh], { includeDeleted: true })).size, 'rolled-back insert').toBe(0);
      expect(await readOutboxEntry(store, fresh), 'rolled-back enqueue').toBeUndefined();
      if (store.listExpiredIntents)
        expect(await store.listExpiredIntents(T0 + 1_000, 10), 'rolled-back intent').toEqual([]);
      const kept = await recordOf(store, id);
      expect(kept.text, 'rolled-back update').toBe('v1');
      expect(kept.version).toBe(v1);
      expect((await entryOf(store, id)).version, 'rolled-back re-enqueue').toBe(v1);
      expect(await countLiveRecords(store)).toBe(1);
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
      expect(await countLiveRecords(store)).toBe(3);
      if (store.listRecords) {
        const records = await store.listRecords({ limit: 100 });
        expect(records.map((r) => r.id)).toEqual([a, c, e]);
        for (const r of records) expect(r.deleted).toBe(false);
        expect(records[0]!.embedding).toEqual(toFloat32Precision(EMBEDDING));
      }
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
        if (!store.listRecords) continue;
        const records = await pageAll(
          'listRecords',
          (o) => store.listRecords!(o),
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
} satisfies Record<string, RelationalStoreCheck>;
