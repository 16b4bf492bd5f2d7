/**
 * A batch within core's limits (up to 10,000 records of up to 1 MiB of text) that no single function call can
 * carry: node-postgres spells each array argument as one string, and 600 puts of 1 MiB went past V8's longest
 * string (`RangeError: Invalid string length`, untyped, from `putMany` on the async strategies and from
 * sync-2pc's commit after the vectors were written). Such a batch takes the transaction path.
 */
import { createDualWrite, type StrategyName } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing';
import { describe, expect, it } from 'vitest';
import { testSchema } from './helpers.js';

const N = 600;
const TEXT = 'x'.repeat(1024 * 1024 - 16);

describe('a putMany larger than one function call can carry', () => {
  for (const strategy of ['async-queue', 'sync-2pc'] satisfies StrategyName[])
    it(`${strategy}: 600 puts of 1 MiB are written, delivered and read back`, async () => {
      const schema = testSchema();
      const relational = schema.store();
      const vector = new MemoryVectorStore({ dimension: 2 });
      const dw = await createDualWrite({ relational, vector, strategy });
      try {
        const ids = Array.from({ length: N }, (_, i) => `big-${String(i).padStart(4, '0')}`);
        const results = await dw.putMany(
          ids.map((id, i) => ({ id, text: TEXT, metadata: { i }, embedding: [1, i] })),
        );
        expect(results.filter((r) => r.changed)).toHaveLength(N);
        await dw.flush({ timeoutMs: 120_000 });
        const report = await dw.reconcile({ dryRun: true });
        expect(report).toMatchObject({ checkedVectors: N, missing: 0, stale: 0 });
        const last = await dw.get(ids[N - 1]!);
        expect(last?.text.length).toBe(TEXT.length);
        expect(last?.metadata).toEqual({ i: N - 1 });
      } finally {
        await dw.close();
        await schema.drop();
      }
    }, 180_000);
});
