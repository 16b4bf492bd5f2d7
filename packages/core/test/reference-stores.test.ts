/**
 * Core runs its own contract suites against the in-memory reference stores: the safety net for the
 * contracts themselves (a check that the model fails is a wrong check or a wrong model).
 */
import {
  MemoryRelationalData,
  MemoryRelationalStore,
  MemoryVectorData,
  MemoryVectorStore,
  relationalStoreSuite,
  vectorStoreSuite,
  writeStrategySuite,
} from '../src/testing/index.js';

relationalStoreSuite('memory', async () => ({ store: new MemoryRelationalStore(), cleanup: async () => {} }));

vectorStoreSuite('memory', async ({ dimension }) => {
  const store = new MemoryVectorStore({ dimension });
  return { store, cleanup: () => store.close() };
});

writeStrategySuite('memory+memory', async ({ dimension }) => {
  const relational = new MemoryRelationalData();
  const vector = new MemoryVectorData();
  return {
    async open() {
      return {
        relational: new MemoryRelationalStore({ data: relational }),
        vector: new MemoryVectorStore({ dimension, data: vector }),
      };
    },
    async cleanup() {},
  };
});
