/**
 * Several writer processes and several drain-worker processes on one source of truth (a SQLite file, or a
 * MySQL / MariaDB database on the test server) and one vector index,
 * hammering 50 overlapping ids: no id is ever in flight to the vector store twice at the same time (traced
 * across processes on the system-wide monotonic clock), no update is lost (every id ends at the highest
 * version any writer saw acknowledged, with that write's content), the index equals the source of truth, and
 * no lock error (SQLITE_BUSY, a MySQL deadlock) escapes (every child exits 0 and reports no unhandled error).
 */
import { join } from 'node:path';
import { createDualWrite, type DeliveryOptions, HashingEmbedder, verifyConsistency } from '@dualwrite/core';
import Database from 'better-sqlite3';
import { describe, expect, inject, it } from 'vitest';
import { openRelationalStore, openVectorStore, SUITE_DELIVERY } from '../src/backends.js';
import { entryPath, type SuiteChild, spawnChild } from '../src/child.js';
import { checkLastWriterWins } from '../src/ledger.js';
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

const WRITERS = 3;
const CHANGES = 200;
const IDS = 50;
const WORKERS = 2;

const scenarios = [
  { strategy: 'async-queue', vector: 'lancedb', relational: 'sqlite', writersPaused: true },
  { strategy: 'async-queue', vector: 'chroma', relational: 'sqlite', writersPaused: false },
  { strategy: 'batch', vector: 'lancedb', relational: 'sqlite', writersPaused: false },
  { strategy: 'batch', vector: 'chroma', relational: 'sqlite', writersPaused: true },
  // A server source of truth: no NOTIFY, workers in other processes poll (MySQL / MariaDB).
  { strategy: 'async-queue', vector: 'lancedb', relational: 'mysql', writersPaused: true },
  { strategy: 'batch', vector: 'lancedb', relational: 'mysql', writersPaused: false },
] as const;

describe.each(scenarios)(
  `${WRITERS} writers × ${CHANGES} changes over ${IDS} ids + ${WORKERS} drain workers: $strategy on $relational + $vector (writers paused: $writersPaused)`,
  ({ strategy, vector, relational: relationalKind, writersPaused }) => {
    it('no double delivery, no lost update, index equals SQL, no lock error escapes', async () => {
      const { dir, remove } = await tempDir('dualwrite-concurrency-');
      const children: SuiteChild[] = [];
      try {
        const database = await trialDatabases(relationalKind)(dir);
        const relationalSpec = database.spec;
        const spec: VectorBackendSpec =
          vector === 'lancedb'
            ? { kind: 'lancedb', uri: join(dir, 'lance') }
            : { kind: 'chroma', url: inject('chromaUrl'), collection: `concurrency-${Date.now()}` };
        const init = await openRelationalStore(relationalSpec);
        await init.init();
        await init.close();
        // Long leases: a delivery outliving its lease would legitimately be re-claimed; we want to see double
        // claims only if the outbox itself lets them happen.
        const delivery: DeliverySpec = { ...SUITE_DELIVERY, leaseMs: 20_000 };
        const batch = { maxBatchSize: 20, maxDelayMs: 10 };
        const workers = Array.from({ length: WORKERS }, (_, i) => {
          const config: WorkerConfig = {
            relational: relationalSpec,
            vector: spec,
            dimension: DIM,
            strategy,
            batch,
            delivery,
            faults: { vectorLatencyMs: 10 },
            worker: `worker-${i}`,
            traceVectorCalls: true,
            busyTimeoutMs: 10_000,
          };
          return spawnChild(entryPath('drain-worker-main'), config);
        });
        const writers = Array.from({ length: WRITERS }, (_, i) => {
          const config: WriterConfig = {
            relational: relationalSpec,
            vector: spec,
            dimension: DIM,
            strategy,
            batch,
            delivery,
            faults: { vectorLatencyMs: 10 },
            seed: 9_000 + i,
            writes: CHANGES,
            idSpace: IDS,
            writer: `writer-${i}`,
            idPrefix: 'c',
            pauseDelivery: writersPaused,
            traceVectorCalls: true,
            busyTimeoutMs: 10_000,
            waitForGo: true,
            pauseBetweenMs: 3,
          };
          return spawnChild(entryPath('writer-main'), config);
        });
        children.push(...workers, ...writers);
        await Promise.all(children.map((c) => c.ready));
        const started = Date.now();
        for (const w of writers) w.send('go');
        const writerExits = await Promise.all(writers.map((w) => w.exited));
        const writingMs = Date.now() - started;

        // The workers drain what is left; then they are stopped.
        const workerExits = await drainedThenStopped(relationalSpec, workers);

        // Children: exit 0, no unhandled error, no stray SQLITE_BUSY.
        expectCleanExits(children, [...workerExits, ...writerExits], /unhandled|SQLITE_BUSY|ER_LOCK|Error:/i);
        const drainErrors = children.flatMap((c) => c.lines.filter((l) => l.t === 'drain-error'));

        // No id in flight twice at once, across all processes.
        const calls = tracedVectorCalls(children);
        expect(calls.length, 'vector calls were traced').toBeGreaterThan(10);
        expectOneDeliveryAtATime(calls, WORKERS, writersPaused ? writers : []);

        // No lost update: every id ends at the highest acknowledged version, with that write's content.
        const ledgers = expectEveryCallAcknowledged(writers, CHANGES);
        const relational = await openRelationalStore(relationalSpec);
        const vectorStore = await openVectorStore(spec, DIM);
        const dw = await createDualWrite({
          relational,
          vector: vectorStore,
          embedder: new HashingEmbedder({ dimension: DIM }),
          strategy,
          delivery: delivery as Partial<DeliveryOptions>,
        });
        try {
          const flushed = await dw.flush({ timeoutMs: 30_000 });
          expect(flushed).toMatchObject({ pending: 0, deadLetters: 0 });
          const violations = await checkLastWriterWins(ledgers, relational);
          expect(violations).toEqual([]);
          const report = await verifyConsistency(relational, vectorStore);
          expect(report, JSON.stringify(report.examples)).toMatchObject({
            lost: 0,
            stale: 0,
            mismatched: 0,
            orphans: 0,
          });
          console.log(
            `[concurrency] ${strategy}/${relationalKind}+${vector}: ${WRITERS}×${CHANGES} calls (${ledgers.reduce((n, l) => n + l.ackedChanges, 0)} changes) in ${writingMs} ms, ` +
              `${calls.length} vector calls by ${[...new Set(calls.map((c) => c.who))].join(', ')}, 0 overlaps, ${drainErrors.length} drain errors handled, ` +
              `${report.records} live records`,
          );
        } finally {
          await dw.close({ drain: false });
        }
        if (relationalSpec.kind === 'sqlite') {
          const db = new Database(relationalSpec.path, { readonly: true });
          try {
            expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
          } finally {
            db.close();
          }
        }
        await database.drop();
      } finally {
        for (const c of children) if (c.process.exitCode === null && c.process.signalCode === null) c.kill();
        await remove();
      }
    });
  },
);
