import { expect } from 'vitest';
import type { RelationalStore, RelationalTx } from '../../contracts/relational-store.js';
import {
  ackOf,
  claim,
  EMBEDDING,
  put,
  type RelationalStoreFactory,
  recordOf,
  T0,
  uid,
  withStore,
} from './helpers.js';

/** Times and versions no store can keep exactly (see `RelationalStore`'s doc): each is refused at the call. */
const UNSTORABLE: readonly unknown[] = [
  T0 + 0.5,
  1.5,
  -1,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  2 ** 53,
  `${T0}`,
];

/** One refused call: the argument `field` names, and the call with `bad` in its place. */
interface ArgumentCase {
  field: string;
  call(store: RelationalStore, bad: number): Promise<unknown> | undefined;
}

/** A transaction whose first call is `fn`'s: a refusal must leave nothing of the transaction behind. */
const inTx = (store: RelationalStore, fn: (tx: RelationalTx) => Promise<unknown> | undefined) =>
  store.transaction(async (tx) => {
    const call = fn(tx);
    if (call === undefined) return 'not supported';
    await call;
    await tx.enqueue(uid('after-refusal'), 1, 'upsert', T0);
    return undefined;
  });

/**
 * The calls of the port that take a time or a version, and the name a refusal must give the argument. `id` has a
 * record and a leased outbox entry (`lease`); optional methods the store lacks resolve `undefined`.
 */
function argumentCases(id: string, lease: Parameters<typeof ackOf>[0]): ArgumentCase[] {
  const change = { op: 'put' as const, record: { id, text: 'refused', metadata: {}, embedding: EMBEDDING } };
  const write = (version: number, now: number) => ({
    id,
    text: 'refused',
    embedding: EMBEDDING,
    metadata: {},
    version,
    deleted: false,
    contentHash: 'refused',
    syncedVersion: null,
    now,
  });
  const failure = (retryAt: number, now: number) => ({
    ...ackOf(lease),
    error: 'refused',
    permanent: false,
    maxAttempts: 5,
    retryAt,
    now,
  });
  return [
    { field: 'now', call: (s, bad) => s.writeChanges?.([change], bad) },
    { field: 'now', call: (s, bad) => s.claimOutbox({ owner: 'w', limit: 10, leaseMs: 1_000, now: bad }) },
    { field: 'leaseMs', call: (s, bad) => s.claimOutbox({ owner: 'w', limit: 10, leaseMs: bad, now: T0 }) },
    { field: 'now', call: (s, bad) => s.ackOutbox([ackOf(lease)], bad) },
    { field: 'acks[0].appliedVersion', call: (s, bad) => s.ackOutbox([ackOf(lease, bad)], T0 + 10) },
    {
      field: 'failure.maxAttempts',
      call: (s, bad) => s.failOutbox({ ...failure(T0, T0), maxAttempts: bad }),
    },
    { field: 'failure.now', call: (s, bad) => s.failOutbox(failure(T0, bad)) },
    { field: 'failure.retryAt', call: (s, bad) => s.failOutbox(failure(bad, T0)) },
    { field: 'leaseUntil', call: (s, bad) => s.renewOutbox([lease], bad) },
    { field: 'retryAt', call: (s, bad) => s.releaseOutbox([lease], bad) },
    { field: 'now', call: (s, bad) => s.enqueueRepairs?.([id], bad) },
    { field: 'now', call: (s, bad) => s.requeueDeadLetters(undefined, bad) },
    { field: 'now', call: (s, bad) => s.outboxStats(bad) },
    { field: 'now', call: (s, bad) => s.listExpiredIntents?.(bad, 10) },
    { field: 'version', call: (s, bad) => s.markSynced?.(id, bad) },
    {
      field: 'updates[0].version',
      call: (s, bad) => s.setEmbeddings?.([{ id, version: bad, embedding: [1] }]),
    },
    { field: 'expiresAt', call: (s, bad) => s.prepareIntents?.([change], [uid('token')], bad) },
    {
      field: 'options.now',
      call: (s, bad) =>
        s.commitIntents?.(
          [
            {
              token: uid('token'),
              next: write(1, T0),
              op: 'upsert',
              previousVersion: null,
              contended: false,
            },
          ],
          { now: bad, deferred: false, dropTokens: [] },
        ),
    },
    { field: 'atLeast', call: (s, bad) => inTx(s, (tx) => tx.nextVersion(bad)) },
    { field: 'record.version', call: (s, bad) => inTx(s, (tx) => tx.writeRecord(write(bad, T0))) },
    { field: 'record.now', call: (s, bad) => inTx(s, (tx) => tx.writeRecord(write(1, bad))) },
    { field: 'version', call: (s, bad) => inTx(s, (tx) => tx.enqueue(id, bad, 'upsert', T0)) },
    { field: 'now', call: (s, bad) => inTx(s, (tx) => tx.enqueue(id, 1, 'upsert', bad)) },
    {
      field: 'intent.version',
      call: (s, bad) =>
        inTx(s, (tx) => tx.putIntent?.({ token: uid('token'), recordId: id, version: bad, expiresAt: T0 })),
    },
    {
      field: 'intent.expiresAt',
      call: (s, bad) =>
        inTx(s, (tx) => tx.putIntent?.({ token: uid('token'), recordId: id, version: 1, expiresAt: bad })),
    },
  ];
}

/** Use marks of the embedding cache no store can keep (a fraction is dropped there, not refused). */
const UNMARKABLE: readonly unknown[] = [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, 1e300, `${T0}`];

/** RelationalStore contract checks: the time and version arguments a store refuses at the call. */
export const argumentsChecks = {
  "the embedding cache's use marks: a fraction is dropped, anything else that is not Unix ms is refused at the call":
    (factory: RelationalStoreFactory) =>
      withStore(factory, async (store) => {
        const { putCachedEmbeddings, pruneCachedEmbeddings, getCachedEmbeddings } = store;
        if (!putCachedEmbeddings || !pruneCachedEmbeddings || !getCachedEmbeddings) return; // no cache here
        const key = uid('hash:mark');
        await store.putCachedEmbeddings!([{ key, embedding: [0.5] }], { usedAt: T0 + 0.5 });
        const calls: [string, (bad: number) => Promise<unknown>][] = [
          ['options.usedAt', (bad) => store.putCachedEmbeddings!([{ key, embedding: [1] }], { usedAt: bad })],
          ['usedBefore', (bad) => store.pruneCachedEmbeddings!(bad, 10)],
          [
            'options.refresh.usedAt',
            (bad) => store.getCachedEmbeddings!([key], { refresh: { usedAt: bad, staleBefore: T0 + 1 } }),
          ],
          [
            'options.refresh.staleBefore',
            (bad) => store.getCachedEmbeddings!([key], { refresh: { usedAt: T0, staleBefore: bad } }),
          ],
        ];
        for (const [field, call] of calls)
          for (const bad of UNMARKABLE)
            await expect(call(bad as number), `${field} = ${String(bad)}`).rejects.toMatchObject({
              code: 'VALIDATION',
              field,
            });
        expect((await store.getCachedEmbeddings!([key])).get(key), 'the entry is as it was').toEqual([0.5]);
        expect(await store.pruneCachedEmbeddings!(T0 + 1, 10), 'its fraction was dropped: used at T0').toBe(
          1,
        );
      }),

  'a time or version that is not a whole number in 0..2^53-1 is refused at the call, naming the argument, and changes nothing':
    (factory: RelationalStoreFactory) =>
      withStore(factory, async (store) => {
        const id = uid('args');
        await put(store, { id, now: T0 });
        const [lease] = await claim(store, T0 + 1);
        const before = await recordOf(store, id);
        for (const { field, call } of argumentCases(id, lease!))
          for (const bad of UNSTORABLE) {
            const what = `${field} = ${typeof bad === 'string' ? JSON.stringify(bad) : String(bad)}`;
            let error: unknown;
            try {
              const pending = call(store, bad as number);
              if (pending === undefined || (await pending) === 'not supported') continue; // optional, not here
            } catch (thrown) {
              error = thrown;
            }
            expect(error, `${what} should have been refused`).toBeDefined();
            expect((error as { code?: unknown }).code, `${what}: a ValidationError (${String(error)})`).toBe(
              'VALIDATION',
            );
            expect((error as { field?: unknown }).field, `${what}: the error names the argument`).toBe(field);
          }
        expect(await recordOf(store, id), 'the record is as it was, and readable').toEqual(before);
        const stats = await store.outboxStats(T0 + 2);
        expect(stats, 'one entry, still leased').toMatchObject({ depth: 1, inFlight: 1, deadLetters: 0 });
        expect(await store.ackOutbox([ackOf(lease!)], T0 + 3), 'the lease is still held').toEqual(['acked']);
        expect((await store.getRecords([id])).get(id)!.syncedVersion).toBe(before.version);
      }),
};
