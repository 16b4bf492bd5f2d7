/**
 * `close()` while a delivery claim waits behind an application's open transaction (SQLite has one writer): the
 * claim takes its leases once the transaction commits, after delivery was told to stop, and gives them back.
 * Before, the facade had closed the store by then, the release was refused, and the entries stayed leased to
 * a process that was gone until the lease ran out (`delivery.leaseMs`, 10 s by default).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDualWrite } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing';
import { describe, expect, it } from 'vitest';
import { SqliteRelationalStore } from '../src/index.js';

describe('close() with a claim queued behind an open transaction', () => {
  it('gives back what the late claim took: the entry is claimable at once after close()', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dw-close-claims-'));
    const path = join(dir, 'source.sqlite');
    try {
      const dw = await createDualWrite({
        relational: new SqliteRelationalStore({ path }),
        vector: new MemoryVectorStore({ dimension: 4 }),
        strategy: 'async-queue',
        driftCheck: false,
        delivery: { pollIntervalMs: 50, leaseMs: 60_000 },
      });
      let commit!: () => void;
      const held = new Promise<void>((resolve) => {
        commit = resolve;
      });
      const transaction = dw.transaction(async (uow) => {
        await uow.put({ id: 'a', text: 'committed while closing', embedding: [1, 2, 3, 4] });
        await held; // the drainer's next poll claims behind this open transaction
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const closing = dw.close({ timeoutMs: 300 });
      // Commit once close() gave up on the transaction and on delivery, and began closing the store.
      setTimeout(commit, 3_000);
      const report = await closing;
      await transaction;

      const store = new SqliteRelationalStore({ path });
      try {
        const leases = await store.claimOutbox({
          owner: 'next-process',
          limit: 10,
          leaseMs: 1_000,
          now: Date.now(),
        });
        expect(leases.map((lease) => lease.recordId)).toEqual(['a']);
      } finally {
        await store.close();
      }
      expect(report).toMatchObject({ drained: false, remaining: 1 });
      expect(report.error).toBeUndefined(); // before: "close: outbox count did not finish"
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
