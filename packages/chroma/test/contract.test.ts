/**
 * The shared VectorStore contract suite from @dualwrite/core/testing, against a real local Chroma server.
 * `maxBatchSize: 1000` makes the suite's large-batch check (2,005 records) span several requests; the
 * server's own limit (5,461) is exercised in chroma-specific.test.ts.
 */
import { vectorStoreSuite } from '@dualwrite/core/testing';
import { openTestStore } from './helpers.js';

vectorStoreSuite('chroma', async ({ dimension }) => openTestStore({ dimension, maxBatchSize: 1000 }));
