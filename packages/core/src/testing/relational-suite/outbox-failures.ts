import { expect } from 'vitest';
import {
  ackOf,
  byCodePoint,
  claim,
  entryOf,
  pageAll,
  put,
  putAll,
  type RelationalStoreCheck,
  type RelationalStoreFactory,
  T0,
  uid,
  withStore,
} from './helpers.js';

/** RelationalStore contract checks: outbox failures. */
export const outboxFailuresChecks = {
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
      expect(await store.outboxStats(now)).toMatchObject({
        depth: 0,
        inFlight: 0,
        deadLetters: 1,
        oldestPendingAt: null,
      });
      if (store.maxPendingVersion)
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

  'releaseClaims (where present) gives back the leases of the owners named, and only those': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      if (!store.releaseClaims) return;
      const [a, b, c] = [uid('a'), uid('b'), uid('c')];
      await put(store, { id: a, now: T0 });
      await put(store, { id: b, now: T0 + 1 });
      await put(store, { id: c, now: T0 + 2 });
      const lost = await claim(store, T0 + 10, 2, 'worker#1', 60_000);
      expect(lost.map((l) => l.recordId)).toEqual([a, b]);
      const [kept] = await claim(store, T0 + 10, 1, 'worker#2', 60_000);
      expect(await store.releaseClaims(['worker#1', 'nobody']), 'leases given back').toBe(2);
      expect(await entryOf(store, a)).toMatchObject({ state: 'pending', attempts: 0, nextAttemptAt: T0 });
      const again = await claim(store, T0 + 20, 10, 'worker#3', 60_000);
      expect(
        again.map((l) => [l.recordId, l.attempts]),
        'claimable at once, uncharged',
      ).toEqual([
        [a, 0],
        [b, 0],
      ]);
      expect(await store.releaseClaims([]), 'nothing named').toBe(0);
      expect(await store.ackOutbox([ackOf(kept!)], T0 + 30), "worker#2's lease was still held").toEqual([
        'acked',
      ]);
      await expect(store.releaseClaims(Array(1_001).fill('x'))).rejects.toMatchObject({
        code: 'VALIDATION',
        field: 'owners',
      });
    }),
} satisfies Record<string, RelationalStoreCheck>;
