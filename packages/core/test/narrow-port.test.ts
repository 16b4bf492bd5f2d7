/**
 * The relational port's required surface is enough: the relational contract (through core's generic
 * operations where a fast path is missing) and, for async-queue and batch, the write-strategy contract run
 * on a store stripped of every optional capability (intent log, embedding cache, operator gauges, fast
 * paths); sync-2pc, which needs the intent log, is refused at start with a typed error. The required store
 * surface is pinned at 16 methods.
 */
import { describe, expect, it } from 'vitest';
import type { RelationalStore, RelationalTx } from '../src/contracts/relational-store.js';
import { createDualWrite, HashingEmbedder, ValidationError } from '../src/index.js';
import {
  MemoryRelationalData,
  MemoryRelationalStore,
  MemoryVectorData,
  MemoryVectorStore,
  relationalStoreSuite,
  writeStrategySuite,
} from '../src/testing/index.js';

const OPTIONAL_STORE = [
  'listExpiredIntents',
  'getCachedEmbeddings',
  'putCachedEmbeddings',
  'pruneCachedEmbeddings',
  'listRecords',
  'markSynced',
  'maxPendingVersion',
  'recentlySynced',
  'releaseClaims',
  'purgeTombstones',
  'insertMeta',
  'subscribeOutbox',
  'countRecords',
  'enqueueRepairs',
  'getOutboxEntry',
  'setEmbeddings',
];
const OPTIONAL_TX = ['putIntent', 'countIntents', 'deleteIntent'];

/** `target` with `hidden` keys reading as `undefined` (and absent from `in`). */
function hide<T extends object>(target: T, hidden: readonly string[]): T {
  return new Proxy(target, {
    get: (t, key, receiver) => {
      if (typeof key === 'string' && hidden.includes(key)) return undefined;
      const value = Reflect.get(t, key, receiver);
      return typeof value === 'function' ? value.bind(t) : value;
    },
    has: (t, key) => !(typeof key === 'string' && hidden.includes(key)) && Reflect.has(t, key),
  });
}

/** A store with only the required surface: no optional method on the store or its transactions. */
function requiredOnly(store: MemoryRelationalStore): RelationalStore {
  const bare = hide(store, [...OPTIONAL_STORE, 'transaction']) as RelationalStore;
  return Object.assign(Object.create(bare), {
    transaction: <T>(fn: (tx: RelationalTx) => Promise<T>) =>
      store.transaction((tx) => fn(hide(tx, OPTIONAL_TX))),
  }) as RelationalStore;
}

relationalStoreSuite('required-only memory store', async () => ({
  store: requiredOnly(new MemoryRelationalStore()),
  cleanup: async () => {},
}));

writeStrategySuite(
  'required-only memory store',
  async ({ dimension }) => {
    const relational = new MemoryRelationalData();
    const vector = new MemoryVectorData();
    return {
      async open() {
        return {
          relational: requiredOnly(new MemoryRelationalStore({ data: relational })),
          vector: new MemoryVectorStore({ dimension, data: vector }),
        };
      },
      async cleanup() {},
    };
  },
  { strategies: ['async-queue', 'batch'] },
);

describe('a store without the intent log', () => {
  it('is refused for sync-2pc at start, naming the missing capability', async () => {
    const error = await createDualWrite({
      relational: requiredOnly(new MemoryRelationalStore()),
      vector: new MemoryVectorStore({ dimension: 8 }),
      embedder: new HashingEmbedder({ dimension: 8 }),
      strategy: 'sync-2pc',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toContain(
      'sync-2pc needs a relational store with the intent log',
    );
  });
});

describe('the required surface', () => {
  it('is 16 methods on the store', () => {
    const store = new MemoryRelationalStore();
    const methods = new Set<string>();
    for (
      let proto = Object.getPrototypeOf(store);
      proto !== Object.prototype;
      proto = Object.getPrototypeOf(proto)
    )
      for (const key of Object.getOwnPropertyNames(proto))
        if (key !== 'constructor' && typeof (store as unknown as Record<string, unknown>)[key] === 'function')
          methods.add(key);
    const required = [...methods].filter((m) => !OPTIONAL_STORE.includes(m) && !m.startsWith('#'));
    expect(required.sort()).toEqual(
      [
        'ackOutbox',
        'claimOutbox',
        'close',
        'currentVersion',
        'failOutbox',
        'getMeta',
        'getRecords',
        'init',
        'listDeadLetters',
        'listVersions',
        'outboxStats',
        'releaseOutbox',
        'renewOutbox',
        'requeueDeadLetters',
        'setMeta',
        'transaction',
      ].sort(),
    );
  });
});
