import { expect } from 'vitest';
import { countLiveRecords, enqueueRepairs, readOutboxEntry } from '../../contracts/relational-operations.js';
import { hasIntentLog } from '../../contracts/relational-store.js';
import {
  ackOf,
  claim,
  drain,
  entryOf,
  put,
  putAll,
  type RelationalStoreCheck,
  type RelationalStoreFactory,
  recordOf,
  T0,
  uid,
  withStore,
} from './helpers.js';

/** RelationalStore contract checks: outbox ack. */
export const outboxAckChecks = {
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
      expect(await readOutboxEntry(store, a)).toBeUndefined();
      expect(await readOutboxEntry(store, c)).toBeUndefined();
      expect(await readOutboxEntry(store, b), 'b was not acked').toBeDefined();
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
      expect(await readOutboxEntry(store, id)).toBeUndefined();
    }),

  'an enqueue at the same version under a lease (a repair) makes that lease superseded and uncharged': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      // The crash harness's race: a drainer delivered v under its lease, then a stale write landed in the index
      // and its writer enqueued a repair of v; completing the entry on the drainer's ack left the index stale.
      const [id, other] = [uid('repaired'), uid('failed')];
      const [v, w] = await putAll(store, [{ id }, { id: other }]);
      const leases = await claim(store, T0, 10, 'A', 1_000);
      const leaseOf = (recordId: string) => leases.find((l) => l.recordId === recordId)!;
      await enqueueRepairs(store, [id, other], T0 + 5);
      expect(await store.ackOutbox([ackOf(leaseOf(id))], T0 + 10)).toEqual(['superseded']);
      expect(await entryOf(store, id)).toMatchObject({ version: v, state: 'pending', attempts: 0 });
      expect((await recordOf(store, id)).syncedVersion, 'the applied version is recorded').toBe(v);
      const failure = {
        recordId: other,
        leaseToken: leaseOf(other).leaseToken,
        error: 'down',
        retryAt: T0 + 20,
        now: T0 + 10,
      };
      expect(await store.failOutbox({ ...failure, permanent: true, maxAttempts: 1 })).toBe('retry');
      expect(await entryOf(store, other), 'not charged, not dead').toMatchObject({
        version: w,
        state: 'pending',
        attempts: 0,
      });
      const again = await claim(store, T0 + 20, 10, 'B');
      expect(again.map((l) => `${l.recordId}@${l.version}`).sort()).toEqual(
        [`${id}@${v}`, `${other}@${w}`].sort(),
      );
      expect(
        await store.ackOutbox(
          again.map((l) => ackOf(l)),
          T0 + 30,
        ),
      ).toEqual(['acked', 'acked']);
      expect(await readOutboxEntry(store, id)).toBeUndefined();
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
      if (!hasIntentLog(store)) return; // an optional capability this store does not have
      const id = uid('intent-guarded');
      await putAll(store, [{ id }]);
      await drain(store, T0);
      await putAll(store, [{ id, deleted: true, embedding: null, now: T0 + 10 }]);
      const token = uid('token');
      await store.transaction(async (tx) => {
        expect(await tx.countIntents!(id)).toBe(0);
        await tx.putIntent!({ token, recordId: id, version: 1, expiresAt: T0 + 1_000_000 });
        expect(await tx.countIntents!(id)).toBe(1);
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
        expect(await tx.deleteIntent!(token)).toBe(true);
        expect(await tx.countIntents!(id)).toBe(0);
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
      expect(await readOutboxEntry(store, purged)).toBeUndefined();
      expect(await recordOf(store, revived)).toMatchObject({ deleted: false, version: v3, text: 'back' });
      expect(await entryOf(store, revived)).toMatchObject({ op: 'upsert', version: v3 });
      expect(await countLiveRecords(store)).toBe(2);
    }),
} satisfies Record<string, RelationalStoreCheck>;
