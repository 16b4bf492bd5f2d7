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
  'outboxStats reports depth, inFlight, deadLetters, oldestPendingAt and (where present) deletes and lowestPendingVersion':
    (factory: RelationalStoreFactory) =>
      withStore(factory, async (store) => {
        expect(await store.outboxStats(T0)).toMatchObject({
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
        expect(await store.outboxStats(T0 + 50)).toMatchObject({
          depth: 3,
          inFlight: 1,
          deadLetters: 1,
          oldestPendingAt: T0 + 10,
        });
        expect((await store.outboxStats(T0 + 130)).inFlight, 'an expired lease is not in flight').toBe(0);
        const lowest = (await store.outboxStats(T0 + 50)).lowestPendingVersion;
        if (lowest !== undefined) {
          const va = (await store.getRecords([a])).get(a)!.version;
          expect(lowest, 'the lowest pending version (a, the first written; the dead letter left out)').toBe(
            va,
          );
        }
        if ((await store.outboxStats(T0)).deletes === undefined) return; // optional
        expect((await store.outboxStats(T0 + 50)).deletes, 'no delete yet').toBe(0);
        await putAll(store, [{ id: uid('t'), deleted: true, embedding: null, now: T0 + 40 }]);
        expect((await store.outboxStats(T0 + 50)).deletes, 'a tombstone pending delivery').toBe(1);
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

  'recentlySynced (where present) lists settled live records by acknowledged version, highest or lowest first, at most limit':
    (factory: RelationalStoreFactory) =>
      withStore(factory, async (store) => {
        if (!store.recentlySynced) return;
        expect(await store.recentlySynced(5)).toEqual([]);
        const [a, b, c, d] = [uid('a'), uid('b'), uid('c'), uid('d')];
        const [va, , vc] = await putAll(store, [
          { id: a },
          { id: b, deleted: true, embedding: null },
          { id: c },
          { id: d },
        ]);
        expect(await store.recentlySynced(5), 'nothing acknowledged yet').toEqual([]);
        const leases = new Map((await claim(store, T0)).map((l) => [l.recordId, l]));
        await store.ackOutbox(
          [a, b, c].map((id) => ackOf(leases.get(id)!)),
          T0,
        );
        // Versions are drawn in order: c's is above a's.
        expect(
          await store.recentlySynced(5),
          'the acknowledged delete of b and the pending d do not count',
        ).toEqual([
          { id: c, syncedVersion: vc },
          { id: a, syncedVersion: va },
        ]);
        expect(await store.recentlySynced(5, va!), 'above: only acknowledgements above it').toEqual([
          { id: c, syncedVersion: vc },
        ]);
        expect(await store.recentlySynced(5, vc!)).toEqual([]);
        expect(await store.recentlySynced(1)).toEqual([{ id: c, syncedVersion: vc }]);
        expect(await store.recentlySynced(1, 0, 'lowest-first'), 'lowest-first: the lowest above').toEqual([
          { id: a, syncedVersion: va },
        ]);
        expect(await store.recentlySynced(5, 0, 'lowest-first')).toEqual([
          { id: a, syncedVersion: va },
          { id: c, syncedVersion: vc },
        ]);
        expect(await store.recentlySynced(5, va!, 'lowest-first')).toEqual([{ id: c, syncedVersion: vc }]);
        await putAll(store, [{ id: c, text: 'c again' }]);
        expect(await store.recentlySynced(5), 'c has outbox work again: left out').toEqual([
          { id: a, syncedVersion: va },
        ]);
        await expect(store.recentlySynced(0)).rejects.toMatchObject({ code: 'VALIDATION', field: 'limit' });
        await expect(store.recentlySynced(5, 0, 'newest' as 'lowest-first')).rejects.toMatchObject({
          code: 'VALIDATION',
          field: 'order',
        });
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
