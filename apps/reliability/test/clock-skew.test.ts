/**
 * Workers on machines whose clocks disagree (a break-it round, helper-78, PostgreSQL and MariaDB with LanceDB):
 * leases, retry times and sync-2pc intent expiries were computed on each process's own clock, so a worker whose
 * clock ran a minute ahead took every lease another worker had just taken (5 s) as expired and delivered the
 * same entries again while the first was still writing them — 832 takeovers for 835 deliveries, the first
 * worker's acks all lost; a worker 10 min behind claimed nothing a normal-clock writer wrote, and left a crashed
 * worker's leases alone for 10 min. Now each process reads them on the source of truth's clock: its own,
 * corrected by the offset it measures against the database server's (`sourceTime`).
 */
import { createDualWrite, verifyConsistency } from '@dualwrite/core';
import { describe, expect, it } from 'vitest';
import { openRelationalStore, openVectorStore, SUITE_DELIVERY } from '../src/backends.js';
import { entryPath, type SuiteChild, spawnChild } from '../src/child.js';
import type { DeliverySpec, VectorBackendSpec, WorkerConfig, WriterConfig } from '../src/protocol.js';
import { trialDatabases } from '../src/trial-databases.js';
import { DIM, tempDir } from './helpers.js';
import {
  drainedThenStopped,
  expectCleanExits,
  expectEveryCallAcknowledged,
  expectOneDeliveryAtATime,
  tracedVectorCalls,
} from './multi-process-checks.js';

const RECORDS = 300;
const SKEW_MS = 60_000;

/** How the second drain worker's wall clock differs from the machine's. */
type SecondClock = Pick<WorkerConfig, 'clockSkewMs' | 'clockStep'>;

/**
 * {@link RECORDS} records written with delivery off, then drained by two worker processes on PostgreSQL into
 * LanceDB — the first on the machine's clock, the second on `second` — through a slow index (200 ms a call) under
 * 3 s leases, so a delivery is in flight long enough to be taken over. Asserts no lease taken over, no ack lost, no
 * drain error, no id in flight twice at once, and the index equal to the source of truth; returns the workers.
 */
async function drainOnTwoClocks(second: SecondClock): Promise<SuiteChild[]> {
  const { dir, remove } = await tempDir('dualwrite-clock-skew-');
  const children: SuiteChild[] = [];
  const database = await trialDatabases('postgres')(dir);
  try {
    const relationalSpec = database.spec;
    const vectorSpec: VectorBackendSpec = { kind: 'lancedb', uri: `${dir}/lance` };
    // Writes first, delivered by nobody: the workers find the whole outbox due.
    const writer = await createDualWrite({
      relational: await openRelationalStore(relationalSpec),
      vector: await openVectorStore(vectorSpec, DIM),
      strategy: 'async-queue',
      deliver: false,
    });
    const embedding = (i: number) => Array.from({ length: DIM }, (_, j) => Math.sin(i + j + 1));
    await writer.putMany(
      Array.from({ length: RECORDS }, (_, i) => ({
        id: `r-${i}`,
        text: `record ${i}`,
        embedding: embedding(i),
      })),
    );
    await writer.close();

    const delivery: DeliverySpec = { ...SUITE_DELIVERY, leaseMs: 3_000 };
    const workers = [{}, second].map((clock, i) =>
      spawnChild(entryPath('drain-worker-main'), {
        relational: relationalSpec,
        vector: vectorSpec,
        dimension: DIM,
        strategy: 'batch',
        batch: { maxBatchSize: 10, maxDelayMs: 5 },
        delivery,
        faults: { vectorLatencyMs: 200 },
        worker: `worker-${i}`,
        traceVectorCalls: true,
        ...clock,
      } satisfies WorkerConfig),
    );
    children.push(...workers);
    await Promise.all(workers.map((w) => w.ready));
    const exits = await drainedThenStopped(relationalSpec, workers);
    expectCleanExits(workers, exits, /unhandled|Error:/i);
    for (const w of workers)
      expect(w.lines.filter((l) => l.t === 'drain-error').slice(0, 3), 'no drain error').toEqual([]);

    const stats = workerStats(workers);
    expect(stats[0]!.clockOffsetMs, 'the normal clock needs no correction').toBe(0);
    expect(
      Math.abs(stats[1]!.clockOffsetMs! + SKEW_MS),
      `the other worker measured its offset (${stats[1]!.clockOffsetMs} ms)`,
    ).toBeLessThan(1_000);
    expect(
      stats.map((s) => [s.leasesTakenOver, s.acksLost]),
      'no lease taken over, no ack lost',
    ).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(stats[0]!.synced! + stats[1]!.synced!, 'each record acknowledged once').toBe(RECORDS);
    expectOneDeliveryAtATime(tracedVectorCalls(workers), 2, []);

    const relational = await openRelationalStore(relationalSpec);
    const vector = await openVectorStore(vectorSpec, DIM);
    try {
      const report = await verifyConsistency(relational, vector);
      expect(report, JSON.stringify(report.examples)).toMatchObject({
        records: RECORDS,
        lost: 0,
        stale: 0,
        mismatched: 0,
        orphans: 0,
      });
      console.log(
        `[clock-skew] ${RECORDS} records drained by a worker on the server's clock and one ${JSON.stringify(second)} ` +
          `(measured ${stats[1]!.clockOffsetMs} ms): synced ${stats[0]!.synced} / ${stats[1]!.synced}, 0 takeovers`,
      );
    } finally {
      await relational.close();
      await vector.close();
    }
    return workers;
  } finally {
    for (const c of children) if (c.process.exitCode === null && c.process.signalCode === null) c.kill();
    await database.drop();
    await remove();
  }
}

/** The counters each worker printed in its `done` line. */
function workerStats(workers: readonly SuiteChild[]): Record<string, number>[] {
  return workers.map((w) => {
    const done = w.lines.find((l) => l.t === 'done');
    expect(done, w.stderr).toBeDefined();
    return (done as { stats: Record<string, number> }).stats;
  });
}

describe('two drain workers on PostgreSQL, one on a clock a minute ahead of the database server', () => {
  it('no lease taken over, no delivery twice at once, the index equals the source of truth', async () => {
    const workers = await drainOnTwoClocks({ clockSkewMs: SKEW_MS });
    const offsets = workers.map((w) => w.lines.filter((l) => l.t === 'clock-offset'));
    expect(offsets[0], 'no offset event on the normal clock').toEqual([]);
    expect(offsets[1], 'the skewed worker said so at its start').toHaveLength(1);
    expect(offsets[1]![0]).toMatchObject({ previousMs: 0 });
  });

  it('the same when its clock is stepped a minute ahead while it delivers', async () => {
    // The step is taken back out of the offset in whole ms: a fraction (the monotonic clock's) made every time a
    // non-integer, which PostgreSQL's bigint refused — the worker failed every claim and ack from the step on
    // (helper-80: 535 drain errors).
    const workers = await drainOnTwoClocks({ clockStep: { afterMs: 2_000, byMs: SKEW_MS } });
    const [event] = workers[1]!.lines.filter((l) => l.t === 'clock-offset');
    expect(event, 'the step was reported').toMatchObject({ previousMs: 0 });
  });

  it("rolls back no healthy sync-2pc write of a writer on the server's clock (MariaDB)", async () => {
    const { dir, remove } = await tempDir('dualwrite-clock-skew-2pc-');
    const children: SuiteChild[] = [];
    const database = await trialDatabases('mysql')(dir);
    try {
      const relationalSpec = database.spec;
      const vectorSpec: VectorBackendSpec = { kind: 'lancedb', uri: `${dir}/lance` };
      const init = await openRelationalStore(relationalSpec);
      await init.init();
      await init.close();
      // Each sync-2pc write takes 300 ms in the index, well within its 5 s intent TTL — which a process a minute
      // ahead read as long past, rolling the intent back under the writer (its commit then refused).
      const delivery: DeliverySpec = { ...SUITE_DELIVERY, intentTtlMs: 5_000, recoveryIntervalMs: 50 };
      const worker = spawnChild(entryPath('drain-worker-main'), {
        relational: relationalSpec,
        vector: vectorSpec,
        dimension: DIM,
        strategy: 'async-queue',
        delivery,
        faults: {},
        worker: 'worker-0',
        clockSkewMs: SKEW_MS,
      } satisfies WorkerConfig);
      children.push(worker);
      await worker.ready;
      const CALLS = 25;
      const writer = spawnChild(entryPath('writer-main'), {
        relational: relationalSpec,
        vector: vectorSpec,
        dimension: DIM,
        strategy: 'sync-2pc',
        delivery,
        faults: { vectorLatencyMs: 300 },
        seed: 78,
        writes: CALLS,
        idSpace: 10,
        writer: 'writer-0',
        idPrefix: 'w',
      } satisfies WriterConfig);
      children.push(writer);
      const writerExit = await writer.exited;
      worker.send('stop');
      const workerExit = await worker.exited;
      expectCleanExits(children, [writerExit, workerExit], /unhandled/i);
      expectEveryCallAcknowledged([writer], CALLS);
      const done = worker.lines.find((l) => l.t === 'done') as { stats: Record<string, number> } | undefined;
      expect(Math.abs(done!.stats.clockOffsetMs! + SKEW_MS)).toBeLessThan(1_000);
    } finally {
      for (const c of children) if (c.process.exitCode === null && c.process.signalCode === null) c.kill();
      await database.drop();
      await remove();
    }
  });
});
