/**
 * The relational port's required surface is enough for async-queue and batch: the write-strategy contract
 * runs on a store stripped of every optional capability (intent log, embedding cache, operator gauges),
 * and sync-2pc, which needs the intent log, is refused at start with a typed error.
 */
import { describe, expect, it } from 'vitest';
import type { RelationalStore, RelationalTx } from '../src/contracts/relational-store.js';
import { createDualWrite, HashingEmbedder, ValidationError } from '../src/index.js';
import {
  MemoryRelationalData,
  MemoryRelationalStore,
  MemoryVectorData,
  MemoryVectorStore,
  writeStrategySuite,
} from '../src/testing/index.js';

const OPTIONAL_STORE = [
  'listExpiredIntents',
  'resolveIntent',
  'getCachedEmbeddings',
  'putCachedEmbeddings',
  'listRecords',
  'markSynced',
  'maxPendingVersion',
  'subscribeOutbox',
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
