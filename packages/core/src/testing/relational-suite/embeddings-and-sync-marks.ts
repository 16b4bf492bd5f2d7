import { expect } from 'vitest';
import { setEmbedding, setEmbeddings } from '../../contracts/relational-operations.js';
import { toFloat32Precision } from '../../record/embedding-codec.js';
import {
  put,
  type RelationalStoreCheck,
  type RelationalStoreFactory,
  recordOf,
  uid,
  withStore,
} from './helpers.js';

/** RelationalStore contract checks: embeddings and sync marks. */
export const embeddingsAndSyncMarksChecks = {
  'setEmbedding only applies while the record is still at the given version': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      const id = uid();
      const v1 = await put(store, { id, embedding: null, text: 'first' });
      const e1 = [1.1, 2.2, 3.3];
      expect(await setEmbedding(store, id, v1 + 1_000, e1), 'wrong version').toBe(false);
      expect((await recordOf(store, id)).embedding).toBeNull();
      expect(await setEmbedding(store, id, v1, e1), 'matching version').toBe(true);
      const record = await recordOf(store, id);
      expect(record.embedding).toEqual(toFloat32Precision(e1));
      expect(record.version, 'setEmbedding does not change the version').toBe(v1);
      expect(record.text).toBe('first');
      await put(store, { id, embedding: null, text: 'second' });
      expect(await setEmbedding(store, id, v1, [9, 9, 9]), 'the record moved on').toBe(false);
      expect((await recordOf(store, id)).embedding).toBeNull();
      expect(await setEmbedding(store, uid('missing'), v1, e1), 'missing record').toBe(false);
    }),

  'setEmbeddings stores, in one call, each update whose record is still at its version': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      // Ids out of code point order: a store that orders its row locks must still answer in the call's order.
      const [c, a, b, tomb] = [uid('c'), uid('a'), uid('b'), uid('tomb')];
      const vc = await put(store, { id: c, embedding: null, text: 'c' });
      const va = await put(store, { id: a, embedding: null, text: 'a' });
      const vb = await put(store, { id: b, embedding: null, text: 'b' });
      const vt = await put(store, { id: tomb, deleted: true, embedding: null });
      const e = (x: number) => [x, x + 0.5, x + 0.25];
      const stored = await setEmbeddings(store, [
        { id: c, version: vc, embedding: e(1) },
        { id: uid('missing'), version: va, embedding: e(2) },
        { id: a, version: va, embedding: e(3) },
        { id: b, version: vb + 1_000, embedding: e(4) },
        { id: tomb, version: vt, embedding: e(5) },
      ]);
      expect(stored, 'one answer per update, in order').toEqual([true, false, true, false, false]);
      expect((await recordOf(store, c)).embedding).toEqual(toFloat32Precision(e(1)));
      expect((await recordOf(store, a)).embedding).toEqual(toFloat32Precision(e(3)));
      expect((await recordOf(store, b)).embedding, 'wrong version: untouched').toBeNull();
      expect(await setEmbeddings(store, []), 'no updates').toEqual([]);
    }),

  'markSynced only ever raises syncedVersion': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      if (!store.markSynced) return; // an optional capability this store does not have
      const id = uid();
      await put(store, { id });
      expect((await recordOf(store, id)).syncedVersion).toBeNull();
      await store.markSynced!(id, 5);
      expect((await recordOf(store, id)).syncedVersion).toBe(5);
      await store.markSynced!(id, 3);
      expect((await recordOf(store, id)).syncedVersion, 'a lower version does not lower it').toBe(5);
      await store.markSynced!(id, 7);
      expect((await recordOf(store, id)).syncedVersion).toBe(7);
      await store.markSynced!(uid('missing'), 1);
    }),
} satisfies Record<string, RelationalStoreCheck>;
