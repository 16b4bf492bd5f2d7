import { expect } from 'vitest';
import { countLiveRecords, readOutboxEntry } from '../../contracts/relational-operations.js';
import type { RelationalStore } from '../../contracts/relational-store.js';
import type { Change } from '../../contracts/write-strategy.js';
import type { Metadata } from '../../record/types.js';
import { writeChangesWithOutbox } from '../../write/plan-change.js';
import { type RelationalStoreCheck, type RelationalStoreFactory, T0, uid, withStore } from './helpers.js';
import { rng } from './model.js';

/** The records and outbox entries of `ids`, for comparing two stores. */
async function state(store: RelationalStore, ids: readonly string[]) {
  const records = await store.getRecords(ids, { includeDeleted: true });
  const entries = await Promise.all(ids.map((id) => readOutboxEntry(store, id)));
  return ids.map((id, i) => ({ id, record: records.get(id), entry: entries[i] }));
}

/**
 * Writes `changes` with `fast.writeChanges` and with the transaction path on `reference`, and expects the same
 * results and the same records and outbox entries of `ids` (versions compared relative to the batch).
 */
async function sameAsTransactionPath(
  fast: RelationalStore,
  reference: RelationalStore,
  changes: readonly Change[],
  now: number,
  ids: readonly string[],
): Promise<void> {
  const label = JSON.stringify(changes);
  const expected = await reference.transaction((tx) => writeChangesWithOutbox(tx, changes, now));
  const got = await fast.writeChanges!(changes, now);
  // Versions come from each store's own sequence; compare them relative to the batch.
  const shape = (rs: typeof got) => rs.map((r) => ({ ...r, version: r.version === null ? null : 'v' }));
  expect(shape(got), label).toEqual(shape(expected));
  const strip = (s: Awaited<ReturnType<typeof state>>) =>
    s.map(({ id, record, entry }) => ({
      id,
      record: record && { ...record, version: 0, syncedVersion: record.syncedVersion === null ? null : 0 },
      entry: entry && { ...entry, version: 0 },
    }));
  expect(strip(await state(fast, ids)), label).toEqual(strip(await state(reference, ids)));
}

/**
 * Metadata the differential check draws from: equal ones in another key order (also with U+0000 in a key and
 * a value), a number and a string with the same text, a boolean — a store deciding no-ops by its own
 * comparison must agree with core's.
 */
const METADATA: readonly Metadata[] = [
  {},
  { k: 'x' },
  { k: 'y' },
  { k: 'x', n: 1 },
  { n: 1, k: 'x' },
  { k: 1 },
  { k: '1' },
  { k: true },
  { 'k\u0000': 'v\u0000', n: 1 },
  { n: 1, 'k\u0000': 'v\u0000' },
];

/** First embedding components: `0` and `-0` are equal values with different float32 bytes. */
const FIRST_COMPONENT: readonly number[] = [0.5, 0.25, 0, -0];

/** RelationalStore contract checks: the optional one-batch write path. */
export const writeChangesChecks = {
  'writeChanges (where present) writes a batch exactly like the transaction path': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, (fast) =>
      withStore(factory, async (reference) => {
        if (!fast.writeChanges) return;
        const random = rng(20261201);
        const ids = ['a', 'b', 'c', 'd', 'e'].map((label) => uid(label));
        for (let batch = 0; batch < 120; batch++) {
          // Every other batch is one change: a store may take a path of its own for those (PostgreSQL does).
          const length = batch % 2 === 0 ? 1 : random.int(2, 6);
          const changes = Array.from({ length }, (): Change => {
            const id = ids[random.int(0, ids.length - 1)]!;
            if (random.next() < 0.25) return { op: 'delete', id };
            const metadata = METADATA[random.int(0, METADATA.length - 1)]!;
            const text = ['one', 'two', 'three'][random.int(0, 2)]!;
            const embedding =
              random.next() < 0.5
                ? undefined
                : [FIRST_COMPONENT[random.int(0, FIRST_COMPONENT.length - 1)]!, 1];
            return { op: 'put', record: { id, text, metadata, embedding } };
          });
          await sameAsTransactionPath(fast, reference, changes, T0 + batch, ids);
        }
      }),
    ),

  'writeChanges (where present) decides no-ops as core does: -0, key order, trailing spaces, kept embeddings':
    (factory: RelationalStoreFactory) =>
      withStore(factory, (fast) =>
        withStore(factory, async (reference) => {
          if (!fast.writeChanges) return;
          const id = uid('noop');
          const put = (text: string, metadata: Metadata, embedding?: number[]): Change => ({
            op: 'put',
            record: { id, text, metadata, embedding },
          });
          const history: Change[] = [
            put('a', { k: 'x', n: 1 }, [0, 1]),
            put('a', { k: 'x', n: 1 }, [-0, 1]), // equal values, other float32 bytes
            put('a', { n: 1, k: 'x' }, [0, 1]), // equal metadata in another key order
            put('a', { n: 1, k: 'x' }), // no embedding, same text: the stored one is kept
            put('a ', { k: 'x', n: 1 }), // a trailing space is another text
            put('a ', { k: 'x', n: 1 }, [1e-46, 1]), // rounds to -0 in float32
            put('a ', { k: 'x', n: 1 }, [0, 1]),
            { op: 'delete', id },
            { op: 'delete', id },
            put('a ', { k: 'x', n: 1 }), // back from a tombstone: no embedding to keep
          ];
          for (const [step, change] of history.entries())
            await sameAsTransactionPath(fast, reference, [change], T0 + step, [id]);
        }),
      ),

  'writeChanges (where present) takes a 10,000-change batch, the largest a facade accepts': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      if (!store.writeChanges) return;
      const prefix = uid('big');
      const changes = Array.from(
        { length: 10_000 },
        (_, i): Change => ({
          op: 'put',
          record: { id: `${prefix}-${i}`, text: `text ${i}`, metadata: { i }, embedding: [i, 1] },
        }),
      );
      const results = await store.writeChanges(changes, T0);
      expect(results.every((r) => r.changed)).toBe(true);
      expect(new Set(results.map((r) => r.version)).size, 'a version each').toBe(10_000);
      expect(await countLiveRecords(store)).toBe(10_000);
      expect((await store.outboxStats(T0)).depth).toBe(10_000);
    }),

  'writeChanges and prepareIntents (where present) of several ids never deadlock with a transaction taking them in another order':
    (factory: RelationalStoreFactory) =>
      withStore(factory, async (store) => {
        const change = (id: string, text: string): Change => ({
          op: 'put',
          record: { id, text, metadata: {}, embedding: undefined },
        });
        const batches: [string, ((ids: string[], round: number) => Promise<unknown>) | undefined][] = [
          [
            'writeChanges',
            store.writeChanges &&
              ((ids, round) =>
                store.writeChanges!(
                  ids.map((id) => change(id, `batch ${round}`)),
                  T0 + 1,
                )),
          ],
          [
            'writeChanges, an id twice (the transaction path)',
            store.writeChanges &&
              ((ids, round) =>
                store.writeChanges!(
                  [...ids, ids[0]!].map((id) => change(id, `batch ${round}`)),
                  T0 + 1,
                )),
          ],
          [
            'prepareIntents',
            store.prepareIntents &&
              ((ids, round) =>
                store.prepareIntents!(
                  ids.map((id) => change(id, 'intent')),
                  ids.map((id) => `token-${round}-${id}`),
                  T0 + 60_000,
                )),
          ],
        ];
        for (const [name, batch] of batches) {
          if (batch === undefined) continue;
          const ids = [uid('first'), uid('second')];
          // One of the two orders is the opposite of the order the store locks them in.
          for (const [round, order] of [ids, [...ids].reverse()].entries()) {
            let holdsFirst!: () => void;
            const firstTaken = new Promise<void>((resolve) => {
              holdsFirst = resolve;
            });
            const application = store.transaction(async (tx) => {
              await writeChangesWithOutbox(tx, [change(order[0]!, `app ${round}`)], T0);
              holdsFirst();
              // Time for the batch to take the other id's lock, if it waits for locks while holding one.
              await new Promise((resolve) => setTimeout(resolve, 100));
              await writeChangesWithOutbox(tx, [change(order[1]!, `app ${round}`)], T0);
            });
            await firstTaken;
            const [app, batched] = await Promise.allSettled([application, batch([...ids], round)]);
            const context = `${name}, round ${round}`;
            const why = (r: PromiseSettledResult<unknown>) =>
              r.status === 'rejected' ? String(r.reason) : '';
            expect(app, `${context}: the application's transaction ${why(app)}`).toMatchObject({
              status: 'fulfilled',
            });
            expect(batched, `${context}: the batch ${why(batched)}`).toMatchObject({ status: 'fulfilled' });
          }
          if (name.startsWith('writeChanges')) {
            // The batch ran after the transaction: its rows are the newest.
            const records = await store.getRecords(ids);
            for (const id of ids) expect(records.get(id)?.text, id).toBe('batch 1');
          }
        }
      }),
} satisfies Record<string, RelationalStoreCheck>;
