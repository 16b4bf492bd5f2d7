/**
 * Contract test suites every adapter runs against its real backend, the in-memory reference stores (the
 * contract's executable model), and fault-injection wrappers.
 * Import from `@dualwrite/core/testing`; requires `vitest` (an optional peer dependency). The stores and wrappers
 * alone, without a test runner: `@dualwrite/core/testing/stores`.
 * @packageDocumentation
 */

export * from './relational-store-suite.js';
export { checkStoreFromEarlierRelease } from './relational-suite/earlier-release.js';
export * from './stores.js';
export * from './vector-store-suite.js';
export * from './write-strategy-suite.js';
