import { expect } from 'vitest';
import type { TwoPhaseIntent } from '../../contracts/outbox.js';
import { readOutboxEntry } from '../../contracts/relational-operations.js';
import { hasIntentLog } from '../../contracts/relational-store.js';
import { rollBackIntent } from '../../write/roll-back-intent.js';
import {
  drain,
  entryOf,
  put,
  type RelationalStoreCheck,
  type RelationalStoreFactory,
  rejectionOf,
  T0,
  uid,
  withStore,
} from './helpers.js';

/** RelationalStore contract checks: intents. */
export const intentsChecks = {
  'purgeTombstones (where present) deletes the settled tombstones among the ids: acknowledged, no outbox entry, no intent':
    (factory: RelationalStoreFactory) =>
      withStore(factory, async (store) => {
        if (!hasIntentLog(store) || !store.purgeTombstones) return;
        const live = uid('live');
        await put(store, { id: live, now: T0 });
        await drain(store, T0);
        const [settled, queued, intended, unsynced] = [
          uid('settled'),
          uid('queued'),
          uid('intent'),
          uid('unsynced'),
        ];
        await store.transaction(async (tx) => {
          for (const id of [settled, queued, intended, unsynced]) {
            const version = await tx.nextVersion();
            await tx.writeRecord({
              id,
              text: '',
              embedding: null,
              metadata: {},
              version,
              deleted: true,
              contentHash: '',
              syncedVersion: id === unsynced ? null : version,
              now: T0,
            });
            if (id === queued) await tx.enqueue(id, version, 'delete', T0);
            if (id === intended)
              await tx.putIntent!({
                token: uid('tok'),
                recordId: id,
                version: version + 1,
                expiresAt: T0 + 1_000,
              });
          }
        });
        const all = [live, settled, queued, intended, unsynced, uid('missing')];
        expect(await store.purgeTombstones([...all, settled])).toBe(1);
        const left = await store.getRecords(all, { includeDeleted: true });
        expect([...left.keys()].sort()).toEqual([live, queued, intended, unsynced].sort());
        expect(await store.purgeTombstones(all), 'nothing settled left').toBe(0);
        expect(await store.purgeTombstones([]), 'no ids').toBe(0);
        await expect(store.purgeTombstones(Array(10_001).fill(live))).rejects.toMatchObject({
          code: 'VALIDATION',
          field: 'ids',
        });
      }),

  'putIntent and deleteIntent run inside transactions; listExpiredIntents returns expiresAt <= now': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      if (!hasIntentLog(store)) return; // an optional capability this store does not have
      const intent = (expiresAt: number): TwoPhaseIntent => ({
        token: uid('tok'),
        recordId: uid('rec'),
        version: 7,
        expiresAt,
      });
      const [i1, i2, i3] = [intent(T0 + 100), intent(T0 + 200), intent(T0 + 300)];
      await store.transaction(async (tx) => {
        await tx.putIntent!(i1);
        await tx.putIntent!(i2);
        await tx.putIntent!(i3);
      });
      const i4 = intent(T0);
      await rejectionOf('rolled-back putIntent', () =>
        store.transaction(async (tx) => {
          await tx.putIntent!(i4);
          throw new Error('rollback');
        }),
      );
      expect(await store.listExpiredIntents!(T0 + 99, 10)).toEqual([]);
      expect(await store.listExpiredIntents!(T0 + 100, 10), 'expiresAt <= now').toEqual([i1]);
      expect(await store.listExpiredIntents!(T0 + 1_000, 2), 'at most limit').toHaveLength(2);
      expect(await store.transaction((tx) => tx.deleteIntent!(i2.token))).toBe(true);
      expect(await store.transaction((tx) => tx.deleteIntent!(i2.token)), 'already gone').toBe(false);
      const left = await store.listExpiredIntents!(T0 + 1_000, 10);
      expect(left.map((i) => i.token).sort()).toEqual([i1.token, i3.token].sort());
      expect(left.find((i) => i.token === i3.token)).toEqual(i3);
    }),

  'core rolls an intent back over the store: deleted, the record rewritten above it and enqueued; false the second time':
    (factory: RelationalStoreFactory) =>
      withStore(factory, async (store) => {
        if (!hasIntentLog(store)) return; // an optional capability this store does not have
        const live = uid('live');
        const missing = uid('missing');
        const v = await put(store, { id: live, now: T0 });
        await drain(store, T0);
        const i1: TwoPhaseIntent = {
          token: uid('tok'),
          recordId: live,
          version: v + 100,
          expiresAt: T0 + 10,
        };
        const i2: TwoPhaseIntent = {
          token: uid('tok'),
          recordId: missing,
          version: v + 101,
          expiresAt: T0 + 10,
        };
        await store.transaction(async (tx) => {
          await tx.putIntent!(i1);
          await tx.putIntent!(i2);
        });
        expect(await readOutboxEntry(store, live)).toBeUndefined();
        expect(await rollBackIntent(store, i1, T0 + 20)).toBe(true);
        // The abandoned write never committed: the record is rewritten unchanged above the intent's version.
        const rewritten = (await store.getRecords([live])).get(live)!;
        expect(rewritten.version).toBeGreaterThan(i1.version);
        expect(rewritten).toMatchObject({ deleted: false, syncedVersion: v });
        expect(await entryOf(store, live)).toMatchObject({
          op: 'upsert',
          version: rewritten.version,
          state: 'pending',
          nextAttemptAt: T0 + 20,
        });
        expect(await rollBackIntent(store, i1, T0 + 21), 'already rolled back').toBe(false);
        expect(await rollBackIntent(store, i2, T0 + 22)).toBe(true);
        expect(await entryOf(store, missing)).toMatchObject({
          op: 'delete',
          version: i2.version,
          state: 'pending',
        });
        expect(await store.listExpiredIntents!(T0 + 1_000, 10)).toEqual([]);
        expect(await rollBackIntent(store, { ...i1, token: uid('never') }, T0)).toBe(false);
      }),
} satisfies Record<string, RelationalStoreCheck>;
