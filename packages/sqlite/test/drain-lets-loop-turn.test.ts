/**
 * Over stores that answer without I/O (SQLite through better-sqlite3, here with the in-memory index) a
 * drain's steps — ack, next claim, reading the records, preparing the call — resolved as one chain of
 * microtasks, so a long drain held the process's timers and I/O until it ended (with LanceDB, whose calls do
 * I/O, the writers of the same process still waited 5–17 ms behind each ack-claim-read stretch). The drain now
 * lets the event loop turn between its steps once 2 ms have passed without a turn.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDualWrite } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing';
import { describe, expect, it } from 'vitest';
import { SqliteRelationalStore } from '../src/index.js';

describe('a long drain over I/O-less stores lets timers run', () => {
  for (const strategy of ['async-queue', 'batch'] as const)
    it(`${strategy}: a 1 ms interval keeps firing while a 10,000-record backlog drains`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'dw-drain-turns-'));
      const relational = new SqliteRelationalStore({ path: join(dir, 'source.sqlite') });
      const vector = new MemoryVectorStore({ dimension: 4 });
      const dw = await createDualWrite({ relational, vector, strategy });
      try {
        dw.pause();
        for (let start = 0; start < 10_000; start += 1_000)
          await dw.putMany(
            Array.from({ length: 1_000 }, (_, i) => ({
              id: `r${start + i}`,
              text: `text ${start + i}`,
              metadata: {},
              embedding: [1, (start + i) % 7, 2, 3],
            })),
          );
        let ticks = 0;
        let last = performance.now();
        let longestGap = 0;
        const timer = setInterval(() => {
          const now = performance.now();
          longestGap = Math.max(longestGap, now - last);
          last = now;
          ticks++;
        }, 1);
        const started = performance.now();
        try {
          dw.resume();
          await dw.flush({ timeoutMs: 60_000 });
        } finally {
          clearInterval(timer);
        }
        const ms = performance.now() - started;
        longestGap = Math.max(longestGap, performance.now() - last);
        expect((await dw.stats()).outboxDepth).toBe(0);
        expect(ms).toBeGreaterThan(100);
        // Timers run between the drain's steps: the longest stretch without a turn is one step (a claim, an ack
        // of up to 1,000 records: 70–170 ms here), not the drain. Before, it was the whole drain (1,035 of 1,043 ms).
        expect(ticks).toBeGreaterThan(2);
        expect(longestGap).toBeLessThan(ms / 2);
      } finally {
        await dw.close({ drain: false });
        await rm(dir, { recursive: true, force: true });
      }
    }, 120_000);
});
