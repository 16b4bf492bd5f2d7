import { expect } from 'vitest';
import {
  ackOf,
  claim,
  expectCode,
  put,
  putAll,
  type RelationalStoreCheck,
  type RelationalStoreFactory,
  T0,
  uid,
  withStore,
} from './helpers.js';

/** RelationalStore contract checks: integrity. */
export const integrityChecks = {
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

  'insertMeta (where present) keeps the first value stored, also against concurrent calls': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      if (!store.insertMeta) return;
      const key = uid('token');
      expect(await store.insertMeta(key, 'first')).toBe('first');
      expect(await store.insertMeta(key, 'second'), 'an existing value is kept').toBe('first');
      expect(await store.getMeta(key)).toBe('first');
      const raced = uid('raced');
      const values = await Promise.all(['a', 'b', 'c', 'd'].map((v) => store.insertMeta!(raced, v)));
      expect(new Set(values).size, `concurrent calls agree: ${values.join(', ')}`).toBe(1);
      expect(await store.getMeta(raced)).toBe(values[0]);
    }),
} satisfies Record<string, RelationalStoreCheck>;
