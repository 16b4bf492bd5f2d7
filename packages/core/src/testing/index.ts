/**
 * Contract test suites every adapter runs against its real backend, the in-memory reference stores (the
 * contract's executable model), and fault-injection wrappers.
 * Import from `@dualwrite/core/testing`; requires `vitest` (an optional peer dependency).
 * @packageDocumentation
 */

export * from '../faults/faulty-vector-store.js';
export * from './line-child.js';
export * from './memory-relational-store.js';
export * from './memory-vector-store.js';
export * from './relational-store-suite.js';
export { checkStoreFromEarlierRelease } from './relational-suite/earlier-release.js';
export * from './vector-store-suite.js';
export * from './write-strategy-suite.js';
