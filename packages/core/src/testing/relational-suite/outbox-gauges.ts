import { expect } from 'vitest';
import { readOutboxEntry } from '../../contracts/relational-operations.js';
import {
  ackOf,
  claim,
  put,
  putAll,
  type RelationalStoreCheck,
  type RelationalStoreFactory,
  T0,
  uid,
  withStore,
} from './helpers.js';

/** RelationalStore contract checks: outbox gauges. */
export const outboxGaugesChecks = {
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
      if (!store.maxPendingVersion) return; // an optional capability this store does not have
      expect(await store.maxPendingVersion!()).toBeNull();
      const [a, b, c] = [uid('a'), uid('b'), uid('c')];
      const [va, vb, vc] = await putAll(store, [{ id: a }, { id: b }, { id: c }]);
      expect(await store.maxPendingVersion!()).toBe(vc);
      const leases = new Map((await claim(store, T0)).map((l) => [l.recordId, l]));
      expect(await store.maxPendingVersion!(), 'leased entries are not delivered yet').toBe(vc);
      await store.ackOutbox([ackOf(leases.get(c)!)], T0);
      expect(await store.maxPendingVersion!()).toBe(vb);
      await store.failOutbox({
        recordId: b,
        leaseToken: leases.get(b)!.leaseToken,
        error: 'x',
        permanent: true,
        maxAttempts: 1,
        retryAt: T0,
        now: T0,
      });
      expect(await store.maxPendingVersion!(), 'dead letters do not count').toBe(va);
      await store.ackOutbox([ackOf(leases.get(a)!)], T0);
      expect(await store.maxPendingVersion!()).toBeNull();
    }),

  'maxSyncedVersion (where present) is the highest acknowledged version of a live record, or null': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      if (!store.maxSyncedVersion) return;
      expect(await store.maxSyncedVersion()).toBeNull();
      const [a, b] = [uid('a'), uid('b')];
      const [va] = await putAll(store, [{ id: a }, { id: b, deleted: true, embedding: null }]);
      expect(await store.maxSyncedVersion(), 'nothing acknowledged yet').toBeNull();
      const leases = new Map((await claim(store, T0)).map((l) => [l.recordId, l]));
      await store.ackOutbox([ackOf(leases.get(a)!), ackOf(leases.get(b)!)], T0);
      expect(await store.maxSyncedVersion(), 'the acknowledged delete of b does not count').toBe(va);
    }),

  'getOutboxEntry returns the entry in either state, or undefined': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      expect(await readOutboxEntry(store, uid('unknown'))).toBeUndefined();
      const [a, b] = [uid('a'), uid('b')];
      const [va, vb] = await putAll(store, [{ id: a }, { id: b, deleted: true, embedding: null }]);
      expect(await readOutboxEntry(store, a)).toMatchObject({
        recordId: a,
        version: va,
        op: 'upsert',
        state: 'pending',
      });
      expect(await readOutboxEntry(store, b)).toMatchObject({
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
      expect(await readOutboxEntry(store, b)).toMatchObject({ state: 'dead' });
      await store.ackOutbox([ackOf(leases.get(a)!)], T0);
      expect(await readOutboxEntry(store, a), 'acked entries are gone').toBeUndefined();
    }),
} satisfies Record<string, RelationalStoreCheck>;
