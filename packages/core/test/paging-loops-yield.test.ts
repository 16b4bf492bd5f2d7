/**
 * `reconcile()` and `verifyConsistency` page through both stores. Over stores that answer without I/O (SQLite
 * through better-sqlite3, the in-memory index) every page resolved as a microtask, so one run over a large
 * store held every timer and I/O callback of the process — delivery, lease renewals, a server's requests —
 * until it ended. They now give the event loop a turn at least every `PAGE_LOOP_TURN_MS` (10 ms) of pages.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, verifyConsistency } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 4;
const RECORDS = 10_000;

/** Resolves `run()` and says how often a 1 ms interval fired while it ran. */
async function ticksDuring(run: () => Promise<unknown>): Promise<{ ticks: number; ms: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const started = performance.now();
  try {
    await run();
  } finally {
    clearInterval(timer);
  }
  return { ticks, ms: performance.now() - started };
}

describe('paging loops over I/O-less stores let timers run', () => {
  it('reconcile and verifyConsistency over 10,000 records: a 1 ms interval keeps firing while they run', async () => {
    const relational = new MemoryRelationalStore();
    const vector = new MemoryVectorStore({ dimension: DIM });
    const dw = await createDualWrite({ relational, vector, strategy: 'batch', closeStores: false });
    try {
      for (let start = 0; start < RECORDS; start += 1_000)
        await dw.putMany(
          Array.from({ length: 1_000 }, (_, i) => ({
            id: `r${start + i}`,
            text: `text ${start + i}`,
            metadata: { n: start + i },
            embedding: [1, (start + i) % 7, 2, 3],
          })),
        );
      await dw.flush({ timeoutMs: 60_000 });

      const reconcile = await ticksDuring(() => dw.reconcile({ pageSize: 200 }));
      const verify = await ticksDuring(() => verifyConsistency(relational, vector, { pageSize: 200 }));
      // Each run takes well over the 10 ms between turns here; before, both reported 0 ticks.
      expect(reconcile.ms).toBeGreaterThan(30);
      expect(verify.ms).toBeGreaterThan(30);
      expect(reconcile.ticks).toBeGreaterThanOrEqual(2);
      expect(verify.ticks).toBeGreaterThanOrEqual(2);
    } finally {
      await dw.close({ drain: false });
    }
  }, 120_000);
});
