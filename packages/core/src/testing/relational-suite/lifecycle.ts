import { expect } from 'vitest';
import { countLiveRecords, enqueueRepairs } from '../../contracts/relational-operations.js';
import {
  claim,
  expectCode,
  put,
  type RelationalStoreCheck,
  type RelationalStoreFactory,
  T0,
  uid,
  withStore,
} from './helpers.js';

/** RelationalStore contract checks: lifecycle. */
export const lifecycleChecks = {
  'init() is idempotent': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      await store.init();
      await store.init();
      expect(await countLiveRecords(store), 'a fresh store is empty').toBe(0);
      const id = uid();
      await put(store, { id });
      await store.init();
      expect((await store.getRecords([id])).has(id), 'init() keeps existing data').toBe(true);
    }),

  'sourceTime(), where present, reads a clock in Unix ms that moves forward': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      if (!store.sourceTime) return;
      const before = Date.now();
      const first = await store.sourceTime();
      const after = Date.now();
      expect(Number.isFinite(first), `sourceTime() returned ${first}`).toBe(true);
      // The test's database runs on this machine or next to it: its clock agrees with this one within a minute
      // (a reading in seconds, or in microseconds, is off by orders of magnitude).
      expect(Math.abs(first - (before + after) / 2), 'sourceTime() is Unix ms').toBeLessThan(60_000);
      await new Promise((r) => setTimeout(r, 30));
      const second = await store.sourceTime();
      expect(second - first, 'it is read at the call, not at a transaction start').toBeGreaterThanOrEqual(20);
      await store.close();
      await expectCode('sourceTime after close', 'CLOSED', () => store.sourceTime!());
    }),

  'close() is idempotent and every later call throws ClosedError': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      await put(store, { id: uid() });
      await store.close();
      await store.close();
      await expectCode('getRecords after close', 'CLOSED', () => store.getRecords(['x']));
      await expectCode('transaction after close', 'CLOSED', () => store.transaction(async () => 1));
      await expectCode('claimOutbox after close', 'CLOSED', () => claim(store, T0));
      await expectCode('countRecords after close', 'CLOSED', () => countLiveRecords(store));
      await expectCode('outboxStats after close', 'CLOSED', () => store.outboxStats(T0));
      await expectCode('enqueueRepairs after close', 'CLOSED', () => enqueueRepairs(store, ['x'], T0));
      if (store.getCachedEmbeddings)
        await expectCode('getCachedEmbeddings after close', 'CLOSED', () =>
          store.getCachedEmbeddings!(['k']),
        );
      await expectCode('init after close', 'CLOSED', () => store.init());
    }),

  'close() lets a running transaction finish, then refuses new calls': (factory: RelationalStoreFactory) =>
    withStore(factory, async (store) => {
      const id = uid();
      await put(store, { id });
      let started: () => void = () => {};
      const inside = new Promise<void>((resolve) => {
        started = resolve;
      });
      const running = store.transaction(async (tx) => {
        const before = await tx.getRecord(id);
        started();
        await new Promise((resolve) => setTimeout(resolve, 200));
        const after = await tx.getRecord(id);
        return [before?.version, after?.version];
      });
      await inside;
      const closing = store.close();
      await expectCode('getRecords while closing', 'CLOSED', () => store.getRecords([id]));
      const [before, after] = await running;
      expect(before, 'the transaction read its record before close').toBeGreaterThan(0);
      expect(after, 'and again after close() was called').toBe(before);
      await closing;
    }),
} satisfies Record<string, RelationalStoreCheck>;
