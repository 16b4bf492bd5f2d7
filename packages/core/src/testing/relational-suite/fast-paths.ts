import { expect } from 'vitest';
import { enqueueRepairsInTx, setEmbeddingInTx } from '../../contracts/relational-operations.js';
import type { RelationalStore } from '../../contracts/relational-store.js';
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

/** Twin records in every state a repair meets: live, tombstone, missing, and live with a leased entry. */
async function twins(store: RelationalStore) {
  const ids = (label: string) => ({
    live: uid(`${label}-live`),
    tomb: uid(`${label}-tomb`),
    missing: uid(`${label}-gone`),
    leased: uid(`${label}-leased`),
  });
  const [fast, generic] = [ids('fast'), ids('generic')];
  await putAll(
    store,
    [fast, generic].flatMap((t) => [{ id: t.live }, { id: t.tomb }]),
  );
  await drain(store, T0 + 1);
  for (const t of [fast, generic]) await put(store, { id: t.leased, now: T0 + 2 });
  const leases = await claim(store, T0 + 3);
  expect(leases.map((l) => l.recordId).sort(), 'both leased twins claimed').toEqual(
    [fast.leased, generic.leased].sort(),
  );
  // Deleted after the claim: a tombstone lives while its delete is pending (an ack purges it).
  for (const t of [fast, generic])
    await put(store, { id: t.tomb, deleted: true, embedding: null, now: T0 + 4 });
  return { fast, generic, leases };
}

/**
 * RelationalStore contract checks: a store's own versions of the operations core can derive from
 * `transaction` (see `relational-operations.ts`) give the same results as the generic rules. A store
 * without them runs the generic rules on both sides.
 */
export const fastPathsChecks = {
  'enqueueRepairs agrees with the generic rule over transaction': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const { fast, generic, leases } = await twins(store);
      const highest = await store.currentVersion();
      const order = (t: typeof fast) => [t.live, t.tomb, t.missing, t.leased, t.live];
      const now = T0 + 100;
      const ran = {
        fast: store.enqueueRepairs
          ? await store.enqueueRepairs(order(fast), now)
          : await store.transaction((tx) => enqueueRepairsInTx(tx, order(fast), now, highest)),
        generic: await store.transaction((tx) => enqueueRepairsInTx(tx, order(generic), now, highest)),
      };
      expect(ran, 'distinct ids counted').toEqual({ fast: 4, generic: 4 });
      for (const key of ['live', 'tomb', 'leased'] as const) {
        const [f, g] = [await entryOf(store, fast[key]), await entryOf(store, generic[key])];
        const record = await recordOf(store, fast[key], true);
        expect(f.version, `${key}: at the record's version`).toBe(record.version);
        expect({ ...f, recordId: '', version: 0 }, `${key}: same entry`).toEqual({
          ...g,
          recordId: '',
          version: 0,
        });
        expect(
          g.version - (await recordOf(store, generic[key], true)).version,
          `${key}: generic at the record's version`,
        ).toBe(0);
      }
      for (const t of [fast, generic]) {
        const entry = await entryOf(store, t.missing);
        expect(entry.op, 'a missing id enqueues a delete').toBe('delete');
        expect(entry.version, 'at the highest version handed out').toBe(highest);
      }
      const outcomes = await store.ackOutbox(
        leases.map((l) => ackOf(l)),
        now + 1,
      );
      expect(outcomes, 'a lease overtaken by a repair is superseded, whichever path enqueued it').toEqual([
        'superseded',
        'superseded',
      ]);
    }),

  'setEmbeddings agrees with the generic rule over transaction': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const [fast, generic] = [uid('fast'), uid('generic')];
      const versions = await putAll(store, [
        { id: fast, text: 'same', embedding: null, now: T0 + 5 },
        { id: generic, text: 'same', embedding: null, now: T0 + 5 },
      ]);
      const [vFast, vGeneric] = [versions[0]!, versions[1]!];
      const run = async (id: string, version: number, embedding: number[], own: boolean) =>
        own && store.setEmbeddings
          ? (await store.setEmbeddings([{ id, version, embedding }]))[0]
          : store.transaction((tx) => setEmbeddingInTx(tx, id, version, embedding));
      const embedding = [0.25, -1.5, 3.75];
      expect(
        [
          await run(fast, vFast + 1_000, embedding, true),
          await run(generic, vGeneric + 1_000, embedding, false),
        ],
        'wrong version',
      ).toEqual([false, false]);
      expect(
        [await run(fast, vFast, embedding, true), await run(generic, vGeneric, embedding, false)],
        'matching version',
      ).toEqual([true, true]);
      const [f, g] = [await recordOf(store, fast), await recordOf(store, generic)];
      const same = (r: typeof f, version: number) => ({ ...r, id: '', version: r.version - version });
      expect(same(f, vFast), 'the same row afterwards (embedding, hash, sync mark, times)').toEqual(
        same(g, vGeneric),
      );
      const tFast = await put(store, { id: fast, deleted: true, embedding: null });
      const tGeneric = await put(store, { id: generic, deleted: true, embedding: null });
      expect(
        [await run(fast, tFast, embedding, true), await run(generic, tGeneric, embedding, false)],
        'a tombstone',
      ).toEqual([false, false]);
    }),

  'getOutboxEntry and countRecords agree with transaction reads and listVersions': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const { fast, generic } = await twins(store);
      for (const id of [...Object.values(fast), ...Object.values(generic)])
        expect(await store.getOutboxEntry?.(id), `getOutboxEntry(${id})`).toEqual(
          store.getOutboxEntry ? await store.transaction((tx) => tx.getOutboxEntry(id)) : undefined,
        );
      const versions = await store.listVersions({ limit: 10_000 });
      const live = versions.filter((v) => !v.deleted).length;
      expect(live, 'live twins').toBe(4);
      if (store.countRecords) expect(await store.countRecords(), 'countRecords').toBe(live);
    }),
} satisfies Record<string, RelationalStoreCheck>;
