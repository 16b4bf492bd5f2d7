/**
 * The in-memory reference stores (the contract's executable model) and the fault-injection wrappers, without
 * the contract suites: importing this needs no test runner (`@dualwrite/core/testing` adds the suites, which
 * need `vitest`). Import from `@dualwrite/core/testing/stores`.
 * @packageDocumentation
 */

export * from '../faults/faulty-vector-store.js';
export * from './line-child.js';
export * from './memory-relational-store.js';
export * from './memory-vector-store.js';
