import { expect } from 'vitest';
import { readOutboxEntry } from '../../contracts/relational-operations.js';
import {
  ackOf,
  claim,
  entryOf,
  put,
  putAll,
  type RelationalStoreCheck,
  type RelationalStoreFactory,
  T0,
  uid,
  withStore,
} from './helpers.js';

/** RelationalStore contract checks: outbox claim. */
export const outboxClaimChecks = {
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
      expect(await readOutboxEntry(store, id), 'the entry survives a lost-lease ack').toBeDefined();
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

      // A's lost-lease ack enqueued a repair under B's lease (A's late write may have landed after B's): B's
      // ack does not complete the entry, a new lease delivers it again.
      expect(await store.ackOutbox([ackOf(b!)], T0 + 1_004)).toEqual(['superseded']);
      const [c] = await claim(store, T0 + 1_004, 10, 'C', 1_000);
      expect(c?.version).toBe(version);
      expect(await store.ackOutbox([ackOf(c!)], T0 + 1_004)).toEqual(['acked']);
      expect(await readOutboxEntry(store, id)).toBeUndefined();
      // A delivery that lands after someone else finished: lease-lost, and a repair converges the index.
      expect(await store.ackOutbox([ackOf(a!)], T0 + 1_005)).toEqual(['lease-lost']);
      expect(await entryOf(store, id)).toMatchObject({ version, op: 'upsert', state: 'pending' });
    }),

  'a claim says which entries it took over from an expired lease (takenOver), and only those': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const [fresh, expired, released, failed, superseded] = [
        uid('fresh'),
        uid('exp'),
        uid('rel'),
        uid('fail'),
        uid('sup'),
      ];
      await putAll(
        store,
        [expired, released, failed, superseded].map((id) => ({ id, now: T0 })),
      );
      const first = await claim(store, T0, 10, 'A', 1_000);
      expect(
        first.map((l) => l.takenOver),
        'nothing to take over on a first claim',
      ).toEqual([false, false, false, false]);
      const leaseOf = (id: string) => first.find((l) => l.recordId === id)!;
      await store.releaseOutbox([leaseOf(released)], T0 + 1);
      expect(
        await store.failOutbox({
          recordId: failed,
          leaseToken: leaseOf(failed).leaseToken,
          error: 'boom',
          permanent: false,
          maxAttempts: 5,
          retryAt: T0 + 1,
          now: T0 + 1,
        }),
      ).toBe('retry');
      await put(store, { id: superseded, now: T0 + 1 });
      expect(await store.ackOutbox([ackOf(leaseOf(superseded))], T0 + 1)).toEqual(['superseded']);
      await put(store, { id: fresh, now: T0 + 2 });
      // `expired`'s lease ran out with no ack, fail or release: its claimer may have died with a write in flight.
      const second = await claim(store, T0 + 1_000, 10, 'B', 1_000);
      expect(
        Object.fromEntries(second.map((l) => [l.recordId, l.takenOver])),
        'taken over: the expired lease alone (an ack, a fail or a release ends a lease)',
      ).toEqual({
        [fresh]: false,
        [expired]: true,
        [released]: false,
        [failed]: false,
        [superseded]: false,
      });
      await store.releaseOutbox(second, T0 + 1_001);
      expect(
        (await claim(store, T0 + 1_001, 10, 'C', 1_000)).map((l) => l.takenOver),
        'a released lease is not taken over',
      ).toEqual([false, false, false, false, false]);
    }),

  'an entry failed or released in doubt (its write may still land) is taken over by its next claim': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const [failed, released, dead, plain] = [uid('fail'), uid('rel'), uid('dead'), uid('plain')];
      await putAll(
        store,
        [failed, released, dead, plain].map((id) => ({ id, now: T0 })),
      );
      const first = await claim(store, T0, 10, 'A', 1_000);
      const leaseOf = (id: string) => first.find((l) => l.recordId === id)!;
      const fail = (id: string, permanent: boolean) =>
        store.failOutbox({
          recordId: id,
          leaseToken: leaseOf(id).leaseToken,
          error: 'timed out',
          permanent,
          maxAttempts: 5,
          retryAt: T0 + 10,
          now: T0 + 1,
          inDoubt: true,
        });
      expect(await fail(failed, false)).toBe('retry');
      expect(await fail(dead, true)).toBe('dead');
      await store.releaseOutbox([leaseOf(released)], T0 + 10, { inDoubt: true });
      await store.releaseOutbox([leaseOf(plain)], T0 + 10);
      expect((await store.outboxStats(T0 + 2)).inFlight, 'a mark is not a live lease').toBe(0);
      const second = await claim(store, T0 + 10, 10, 'B', 1_000);
      expect(
        Object.fromEntries(second.map((l) => [l.recordId, l.takenOver])),
        'marked in doubt: taken over; released plainly: not; dead: not claimed',
      ).toEqual({ [failed]: true, [released]: true, [plain]: false });
      await store.ackOutbox(
        second.map((l) => ackOf(l)),
        T0 + 11,
      );
      await put(store, { id: failed, now: T0 + 12 });
      expect(
        (await claim(store, T0 + 12, 10, 'C', 1_000)).map((l) => [l.recordId, l.takenOver]),
        'the mark is consumed by the claim that took it over',
      ).toEqual([[failed, false]]);
    }),
} satisfies Record<string, RelationalStoreCheck>;
