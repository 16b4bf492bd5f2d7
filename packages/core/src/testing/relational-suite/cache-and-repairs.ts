import { expect } from 'vitest';
import { enqueueRepairs, readOutboxEntry } from '../../contracts/relational-operations.js';
import { hasEmbeddingCache } from '../../contracts/relational-store.js';
import { toFloat32Precision } from '../../record/embedding-codec.js';
import {
  drain,
  entryOf,
  put,
  putAll,
  type RelationalStoreCheck,
  type RelationalStoreFactory,
  T0,
  uid,
  withStore,
} from './helpers.js';

/** RelationalStore contract checks: cache and repairs. */
export const cacheAndRepairsChecks = {
  'the embedding cache stores, replaces and omits missing keys': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      if (!hasEmbeddingCache(store)) return; // an optional capability this store does not have
      const [k1, k2, k3] = [uid('hash:k1'), uid('hash:k2'), uid('hash:k3')];
      const e1 = [0.1, 0.2, 0.3];
      const e2 = [1 / 3, -2 / 3];
      await store.putCachedEmbeddings!([
        { key: k1, embedding: e1 },
        { key: k2, embedding: e2 },
      ]);
      const got = await store.getCachedEmbeddings!([k1, k2, k3]);
      expect([...got.keys()].sort()).toEqual([k1, k2].sort());
      expect(got.get(k1)).toEqual(toFloat32Precision(e1));
      expect(got.get(k2)).toEqual(toFloat32Precision(e2));
      await store.putCachedEmbeddings!([{ key: k1, embedding: [9, 8, 7] }]);
      expect((await store.getCachedEmbeddings!([k1])).get(k1), 'replaced').toEqual([9, 8, 7]);
      expect((await store.getCachedEmbeddings!([])).size).toBe(0);
      await store.putCachedEmbeddings!([]);
    }),

  'the embedding cache expires entries unused since a time: oldest first, up to a limit, kept when used again':
    (factory: RelationalStoreFactory) =>
      withStore(factory, async (store) => {
        if (!hasEmbeddingCache(store) || !store.pruneCachedEmbeddings) return; // no expiry in this store
        const key = (name: string) => uid(`hash:${name}`);
        const [old1, old2, old3, used, put2, fresh] = ['old1', 'old2', 'old3', 'used', 'put2', 'fresh'].map(
          key,
        ) as [string, string, string, string, string, string];
        const e = [0.5, -0.25];
        const at = (usedAt: number, ...keys: string[]) =>
          store.putCachedEmbeddings!(
            keys.map((k) => ({ key: k, embedding: e })),
            { usedAt },
          );
        await at(T0 + 1, old1);
        await at(T0 + 2, old2);
        await at(T0 + 3, old3);
        await at(T0 + 4, used, put2);
        await at(T0 + 100.5, fresh); // a fraction of a ms is dropped, not refused (integer columns)
        // Used for a write at T0 + 60, when its mark (T0 + 4) was older than T0 + 50: marked again.
        expect(
          (
            await store.getCachedEmbeddings!([used], {
              refresh: { usedAt: T0 + 60.5, staleBefore: T0 + 50.5 },
            })
          ).has(used),
        ).toBe(true);
        // A mark newer than `staleBefore` is left as it is (a hit does not write every time).
        await store.getCachedEmbeddings!([old3], { refresh: { usedAt: T0 + 60, staleBefore: T0 + 2 } });
        await at(T0 + 70, put2); // stored again: marked again
        expect(await store.pruneCachedEmbeddings(T0 + 49.5, 2), 'the two oldest, within the limit').toBe(2);
        expect([...(await store.getCachedEmbeddings!([old1, old2, old3])).keys()], 'oldest first').toEqual([
          old3,
        ]);
        expect(await store.pruneCachedEmbeddings(T0 + 50, 10), 'the rest that old').toBe(1);
        expect(await store.pruneCachedEmbeddings(T0 + 50, 10), 'none left that old').toBe(0);
        const left = await store.getCachedEmbeddings!([old1, old2, old3, used, put2, fresh]);
        expect([...left.keys()].sort()).toEqual([used, put2, fresh].sort());
        expect(left.get(used), 'a refreshed entry keeps its embedding').toEqual(toFloat32Precision(e));
        expect(await store.pruneCachedEmbeddings(T0 + 80, 10)).toBe(2);
        expect([...(await store.getCachedEmbeddings!([used, put2, fresh])).keys()]).toEqual([fresh]);
        for (const limit of [0, 10_001, 1.5])
          await expect(store.pruneCachedEmbeddings(T0, limit), `limit ${limit}`).rejects.toMatchObject({
            code: 'VALIDATION',
            field: 'limit',
          });
      }),

  'enqueueRepairs enqueues upsert for live records and delete for tombstones and missing ids': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const [live, tomb, missing] = [uid('live'), uid('tomb'), uid('missing')];
      const [vLive] = await putAll(store, [{ id: live }, { id: tomb }]);
      await drain(store, T0);
      const vTomb = await put(store, { id: tomb, deleted: true, embedding: null, now: T0 + 1 });
      expect(await readOutboxEntry(store, live)).toBeUndefined();
      expect(await enqueueRepairs(store, [live, tomb, missing], T0 + 100)).toBe(3);
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
      expect(await enqueueRepairs(store, [], T0 + 100)).toBe(0);
    }),
} satisfies Record<string, RelationalStoreCheck>;
