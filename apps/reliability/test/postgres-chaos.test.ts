/**
 * Chaos on the PostgreSQL path, on a private cluster this file starts (`initdb` / `pg_ctl` on a free port in
 * a temp dir, so it can restart the server and kill its connections without touching the machine's shared
 * one). Three writer processes and two drain-worker processes share one schema and one LanceDB index while
 * the server is restarted (twice: a quick `pg_ctl restart`, then a stop with 1 s of downtime), while every
 * client connection — the workers' LISTEN connections and every pooled one — is killed with
 * `pg_terminate_backend` every 300 ms for 3 s (or until 70 % of the writes are acknowledged, so some are left
 * for after), or while a REPEATABLE READ transaction stays open for the whole write and drain.
 *
 * In every scenario: no child process exits on its own or reports an unhandled error (each exits 0 when
 * told to stop); writers retry the calls that failed with a retryable error and every call is acknowledged
 * in the end; every id ends at the highest acknowledged version (ledger) and the index equals the source of
 * truth; no id is ever in flight to the vector store twice at once (traced across processes); both workers'
 * LISTEN connections are back and receive notifications afterwards. The time to recover (first delivery,
 * every worker delivering, first acknowledged write, after the server is back or the killing stopped) is
 * printed and annotated.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDualWrite, type DeliveryOptions, HashingEmbedder, verifyConsistency } from '@dualwrite/core';
import { PostgresRelationalStore } from '@dualwrite/postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRelationalStore, openVectorStore, SUITE_DELIVERY } from '../src/backends.js';
import { entryPath, type SuiteChild, spawnChild } from '../src/child.js';
import { checkLastWriterWins } from '../src/ledger.js';
import { type PrivatePostgres, startPrivatePostgres } from '../src/private-postgres.js';
import type {
  DeliverySpec,
  RelationalBackendSpec,
  VectorBackendSpec,
  WorkerConfig,
  WriterConfig,
} from '../src/protocol.js';
import { monotonicMicros } from '../src/tracing-vector-store.js';
import { DIM, tempDir, waitFor } from './helpers.js';
import {
  expectCleanExits,
  expectEveryCallAcknowledged,
  expectOneDeliveryAtATime,
  tracedVectorCalls,
} from './multi-process-checks.js';

const WRITERS = 3;
const CHANGES = 120;
const IDS = 40;
const WORKERS = 2;
/** Id of the record the parent writes after the chaos, to check that both workers are notified again. */
const PROBE_ID = 'after-chaos';

type Chaos = 'restart' | 'terminate' | 'repeatable-read';

const scenarios: { chaos: Chaos; strategy: 'async-queue' | 'batch' }[] = [
  { chaos: 'restart', strategy: 'async-queue' },
  { chaos: 'terminate', strategy: 'batch' },
  { chaos: 'repeatable-read', strategy: 'async-queue' },
];

/** One disturbance: when it ended (server accepting connections again / last kill), µs, monotonic. */
interface Disturbance {
  what: string;
  /** How long the server was unavailable (restart), ms. */
  downMs?: number;
  endedAt: number;
}

/** Time to recover after one disturbance, ms (`undefined`: never happened). */
interface Recovery {
  what: string;
  downMs?: number;
  firstDeliveryMs: number | undefined;
  allWorkersDeliveringMs: number | undefined;
  firstAckMs: number | undefined;
}

let cluster: PrivatePostgres;

beforeAll(async () => {
  // Fails (does not skip) when the server binaries are missing: the message says how to install them.
  cluster = await startPrivatePostgres();
});

afterAll(async () => {
  await cluster?.destroy();
});

/** Runs `text` on a short-lived admin connection to the private cluster. */
async function admin<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: cluster.url });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(scenarios)(
  `PostgreSQL chaos (private cluster): ${WRITERS} writers × ${CHANGES} calls + ${WORKERS} drain workers, $chaos, $strategy`,
  ({ chaos, strategy }) => {
    it('no process exits, every acknowledged write reaches the index, no double delivery, index equals SQL', async ({
      annotate,
    }) => {
      const { dir, remove } = await tempDir('dualwrite-pg-chaos-');
      const children: SuiteChild[] = [];
      let held: pg.Client | undefined;
      try {
        const schema = `chaos_${randomBytes(5).toString('hex')}`;
        const relationalSpec: RelationalBackendSpec = { kind: 'postgres', url: cluster.url, schema };
        const spec: VectorBackendSpec = { kind: 'lancedb', uri: join(dir, 'lance') };
        const init = await openRelationalStore(relationalSpec);
        await init.init();
        await init.close();
        // Leases outlive any delivery by far, even a LanceDB call slowed to seconds on 2 busy cores (an expired
        // lease is legitimately re-claimed, which would show up as an overlap), yet an entry whose claim
        // committed just before its connection died, or whose ack failed, comes back within the run.
        const delivery: DeliverySpec = { ...SUITE_DELIVERY, leaseMs: 10_000 };
        const batch = { maxBatchSize: 20, maxDelayMs: 10 };

        // Progress as the parent sees it: acknowledged calls and their arrival times (µs, monotonic).
        const ackTimes: number[] = [];
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
            faults: {},
            seed: 13_000 + i,
            writes: CHANGES,
            idSpace: IDS,
            writer: `writer-${i}`,
            idPrefix: 'p',
            pauseDelivery: true,
            traceVectorCalls: true,
            waitForGo: true,
            pauseBetweenMs: 10,
            retryTransientMs: 30_000,
          };
          return spawnChild(entryPath('writer-main'), config, {
            onLine: (line) => {
              if (line.t === 'ack') ackTimes.push(monotonicMicros());
            },
          });
        });
        children.push(...workers, ...writers);
        const spawnedAt = Date.now();
        await Promise.all(children.map((c) => c.ready));
        const readyMs = Date.now() - spawnedAt;
        const alive = (c: SuiteChild) => c.process.exitCode === null && c.process.signalCode === null;
        const vcalls = () => tracedVectorCalls(children);
        /** Every worker finished a vector call that began after `since` (µs). */
        const allDeliveringSince = (since: number) =>
          workers.every((_, i) => vcalls().some((c) => c.who === `worker-${i}` && c.ok && c.begin >= since));

        const outboxTable = `"${schema}"."dw_outbox"`;
        let heldSnapshotCount: number | undefined;
        if (chaos === 'repeatable-read') {
          // Opened before the first write and held until the index has been checked: its snapshot pins the
          // xmin horizon (no dead outbox row can be vacuumed) for the whole write and drain.
          held = new pg.Client({ connectionString: cluster.url });
          held.on('error', () => {});
          await held.connect();
          await held.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
          const [row] = (await held.query<{ n: string }>(`SELECT count(*) AS n FROM ${outboxTable}`)).rows;
          heldSnapshotCount = Number(row!.n);
        }

        const started = Date.now();
        for (const w of writers) w.send('go');
        const totalCalls = WRITERS * CHANGES;
        const disturbances: Disturbance[] = [];
        let terminated = 0;
        let listenersTerminated = 0;
        const chaosDone = (async () => {
          if (chaos === 'restart') {
            // 1: `pg_ctl restart -m fast` once writes and deliveries are flowing.
            await waitFor(
              () => ackTimes.length >= totalCalls * 0.15 && vcalls().length >= 5,
              30_000,
              'writes and deliveries before the first restart',
            );
            const downMs = await cluster.restart('fast');
            const backAt = monotonicMicros();
            disturbances.push({ what: 'pg_ctl restart -m fast', downMs, endedAt: backAt });
            await waitFor(
              () => allDeliveringSince(backAt),
              30_000,
              'every worker to deliver again after the restart',
            );
            // 2: stop, 1 s without a server, start.
            await waitFor(() => ackTimes.length >= totalCalls * 0.5, 30_000, 'half the writes');
            const stopAt = Date.now();
            await cluster.stop('fast');
            await sleep(1_000);
            await cluster.start();
            const backAgainAt = monotonicMicros();
            disturbances.push({
              what: 'pg_ctl stop -m fast, 1 s down, start',
              downMs: Date.now() - stopAt,
              endedAt: backAgainAt,
            });
          } else if (chaos === 'terminate') {
            await waitFor(() => ackTimes.length >= totalCalls * 0.1, 30_000, 'writes before the killing');
            // Ten rounds (3 s), cut short once 70 % of the calls are acknowledged: the writers must still have
            // work after the killing stops, or "every worker delivering again" has nothing to show.
            for (let round = 0; round < 10 && ackTimes.length < totalCalls * 0.7; round++) {
              const killed = await admin<{ listener: boolean; ok: boolean }>(
                // A LISTEN connection's last statement is the LISTEN or its heartbeat's.
                `SELECT (query LIKE 'LISTEN%' OR query LIKE '%pg_notification_queue_usage%') AS listener,
                        pg_terminate_backend(pid) AS ok
                 FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
              );
              terminated += killed.filter((k) => k.ok).length;
              listenersTerminated += killed.filter((k) => k.ok && k.listener).length;
              await sleep(300);
            }
            disturbances.push({
              what: 'pg_terminate_backend every 300 ms for 3 s (or until 70 % of the calls are acknowledged)',
              endedAt: monotonicMicros(),
            });
          }
        })();

        const writerExits = await Promise.all(writers.map((w) => w.exited));
        await chaosDone;
        const writingMs = Date.now() - started;

        // The workers drain what is left.
        const probe = await openRelationalStore(relationalSpec);
        const drainStarted = Date.now();
        try {
          await waitFor(
            async () => (await probe.outboxStats(Date.now()).catch(() => undefined))?.depth === 0,
            60_000,
            'the workers to drain the outbox',
          );
        } finally {
          await probe.close();
        }
        const drainTailMs = Date.now() - drainStarted;

        // Both workers' LISTEN connections work after the chaos: a put from a writer-only facade (it
        // notifies) reaches each of them, and a worker delivers it.
        const relational = await openRelationalStore(relationalSpec);
        const vectorStore = await openVectorStore(spec, DIM);
        const dw = await createDualWrite({
          relational,
          vector: vectorStore,
          embedder: new HashingEmbedder({ dimension: DIM }),
          strategy,
          delivery: delivery as Partial<DeliveryOptions>,
          deliver: false,
        });
        try {
          const notifiedAfter = Date.now();
          await dw.put({ id: PROBE_ID, text: 'written after the chaos, delivered by a worker' });
          const [status] = await dw.awaitSynced([PROBE_ID], { timeoutMs: 20_000 });
          const probeMs = Date.now() - notifiedAfter;
          expect(status?.state, 'a worker delivered the post-chaos write').toBe('synced');

          // No process exited on its own.
          for (const [i, w] of workers.entries())
            expect(alive(w), `worker ${i} still running before stop; stderr:\n${w.stderr}`).toBe(true);
          const stoppingAt = Date.now();
          for (const w of workers) w.send('stop');
          const workerExits = await Promise.all(workers.map((w) => w.exited));
          const stopMs = Date.now() - stoppingAt;

          expectCleanExits(children, [...workerExits, ...writerExits], /unhandled|Error:/i);
          for (const [i, w] of workers.entries()) {
            const done = w.lines.at(-1);
            const listener = (done?.t === 'done' ? done.stats.listener : undefined) as
              | {
                  subscriptions: number;
                  reconnects: number;
                  listening: boolean;
                  lastNotificationAt: number | null;
                }
              | undefined;
            expect(listener, `worker ${i} LISTEN health`).toMatchObject({
              subscriptions: 1,
              listening: true,
            });
            expect(
              listener!.lastNotificationAt,
              `worker ${i} was notified of the post-chaos write`,
            ).toBeGreaterThanOrEqual(notifiedAfter);
            if (chaos !== 'repeatable-read')
              expect(listener!.reconnects, `worker ${i} LISTEN reconnected`).toBeGreaterThanOrEqual(1);
          }
          if (chaos === 'terminate') {
            expect(terminated, 'connections terminated').toBeGreaterThan(WORKERS);
            expect(listenersTerminated, 'LISTEN connections terminated').toBeGreaterThanOrEqual(WORKERS);
          }

          // No id in flight twice at once, across all processes; both workers delivered; writers did not.
          const calls = vcalls();
          expectOneDeliveryAtATime(calls, WORKERS, writers);

          // Every call acknowledged in the end (retryable failures retried); last acknowledged write wins.
          const ledgers = expectEveryCallAcknowledged(writers, CHANGES);
          const retries = writers.flatMap((w) => w.lines.filter((l) => l.t === 'retry'));
          // The post-chaos probe record was written by this process, not by a writer.
          const violations = (await checkLastWriterWins(ledgers, relational)).filter(
            (v) => v.id !== PROBE_ID,
          );
          expect(violations).toEqual([]);

          const flushed = await dw.flush({ timeoutMs: 30_000 });
          expect(flushed).toMatchObject({ pending: 0, deadLetters: 0 });
          const report = await verifyConsistency(relational, vectorStore);
          expect(report, JSON.stringify(report.examples)).toMatchObject({
            lost: 0,
            stale: 0,
            mismatched: 0,
            orphans: 0,
          });

          if (held) {
            // The snapshot really was held all along: it still sees the outbox as it was before the first write.
            const [row] = (await held.query<{ n: string }>(`SELECT count(*) AS n FROM ${outboxTable}`)).rows;
            expect(Number(row!.n), 'the REPEATABLE READ snapshot is unchanged').toBe(heldSnapshotCount);
            await held.query('COMMIT');
          }

          // Time to recover after each disturbance.
          const recoveries: Recovery[] = disturbances.map((d) => {
            const msAfter = (t: number) =>
              Number.isFinite(t) && t >= d.endedAt ? Math.round((t - d.endedAt) / 1000) : undefined;
            const firstEnd = (who?: string) =>
              Math.min(
                ...calls
                  .filter((c) => c.ok && c.begin >= d.endedAt && (!who || c.who === who))
                  .map((c) => c.end),
              );
            const perWorker = workers.map((_, i) => firstEnd(`worker-${i}`));
            return {
              what: d.what,
              downMs: d.downMs,
              firstDeliveryMs: msAfter(firstEnd()),
              allWorkersDeliveringMs: msAfter(Math.max(...perWorker)),
              firstAckMs: msAfter(Math.min(...ackTimes.filter((t) => t >= d.endedAt))),
            };
          });
          const drainErrors = children.flatMap((c) => c.lines.filter((l) => l.t === 'drain-error'));
          const summary =
            `[postgres-chaos] ${chaos}/${strategy}: ${ledgers.reduce((n, l) => n + l.ackedChanges, 0)} changes in ` +
            `${writingMs} ms, ${retries.length} write attempts retried, ${drainErrors.length} drain errors handled, ` +
            `${calls.length} vector calls, 0 overlaps, ${report.records} live records; children ready in ${readyMs} ms, ` +
            `drain tail ${drainTailMs} ms, post-chaos write delivered in ${probeMs} ms, workers stopped in ${stopMs} ms` +
            (chaos === 'terminate'
              ? `, ${terminated} connections killed (${listenersTerminated} LISTEN)`
              : '') +
            recoveries
              .map(
                (r) =>
                  `\n  after ${r.what}${r.downMs === undefined ? '' : ` (server unavailable ${r.downMs} ms)`}: ` +
                  `first delivery +${r.firstDeliveryMs} ms, every worker delivering +${r.allWorkersDeliveringMs} ms, ` +
                  `first acknowledged write +${r.firstAckMs} ms`,
              )
              .join('');
          console.log(summary);
          await annotate(summary);
          for (const r of recoveries) {
            expect(r.allWorkersDeliveringMs, `every worker delivering again: ${summary}`).toBeLessThan(
              20_000,
            );
            if (r.firstAckMs !== undefined)
              expect(r.firstAckMs, `writers writing again: ${summary}`).toBeLessThan(20_000);
          }
        } finally {
          await dw.close({ drain: false });
        }
      } finally {
        await held?.end().catch(() => {});
        for (const c of children) if (c.process.exitCode === null && c.process.signalCode === null) c.kill();
        await remove();
      }
    });
  },
);

describe('PostgreSQL stopped while a process shuts down (private cluster)', () => {
  it('close() resolves with the error and drained: false; the next start delivers everything accepted', async () => {
    const { dir, remove } = await tempDir('dualwrite-pg-close-down-');
    const relationalSpec: RelationalBackendSpec = {
      kind: 'postgres',
      url: cluster.url,
      schema: `close_${randomBytes(5).toString('hex')}`,
    };
    const spec: VectorBackendSpec = { kind: 'lancedb', uri: join(dir, 'lance') };
    const open = async () =>
      createDualWrite({
        relational: await openRelationalStore(relationalSpec),
        vector: await openVectorStore(spec, DIM),
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy: 'batch',
        delivery: SUITE_DELIVERY as Partial<DeliveryOptions>,
      });
    try {
      const dw = await open();
      dw.pause();
      const ids = Array.from({ length: 20 }, (_, i) => `down-${i}`);
      await dw.putMany(ids.map((id) => ({ id, text: `accepted before the server stopped: ${id}` })));
      await cluster.stop('fast');
      let report: Awaited<ReturnType<typeof dw.close>>;
      try {
        report = await dw.close({ drain: true, timeoutMs: 1_000 });
      } finally {
        await cluster.start();
      }
      expect(report.drained).toBe(false);
      expect(report.remaining, 'the outbox could not be counted').toBeNull();
      expect(report.error?.name).toBe('BackendUnavailableError');
      await expect(dw.put({ id: 'late', text: 'after close' })).rejects.toMatchObject({ code: 'CLOSED' });

      const next = await open();
      try {
        expect(await next.flush({ timeoutMs: 20_000 })).toMatchObject({ pending: 0, deadLetters: 0 });
        const relational = await openRelationalStore(relationalSpec);
        const vector = await openVectorStore(spec, DIM);
        try {
          const check = await verifyConsistency(relational, vector, { content: true });
          expect(check).toMatchObject({
            records: ids.length,
            vectors: ids.length,
            lost: 0,
            stale: 0,
            mismatched: 0,
            orphans: 0,
            duplicates: 0,
            contentChecked: true,
          });
        } finally {
          await vector.close();
          await relational.close();
        }
      } finally {
        await next.close({ drain: false });
      }
    } finally {
      await remove();
    }
  });
});

/** The server's processes (postmaster and its children) get `signal`: SIGSTOP freezes it like a partition. */
async function signalServer(signal: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
  const postmaster = Number(
    (await readFile(join(cluster.dir, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0],
  );
  const children = execFileSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map(Number);
  for (const pid of [postmaster, ...children]) process.kill(pid, signal);
}

describe('PostgreSQL frozen (SIGSTOP: no answer, no reset) (private cluster)', () => {
  it('with pool.query_timeout, calls fail typed and retryable, close() returns, and everything converges after', async () => {
    const { dir, remove } = await tempDir('dualwrite-pg-frozen-');
    const schema = `frozen_${randomBytes(5).toString('hex')}`;
    const open = async () =>
      createDualWrite({
        relational: new PostgresRelationalStore({
          connectionString: cluster.url,
          schema,
          pool: { query_timeout: 1_000 },
        }),
        vector: await openVectorStore({ kind: 'lancedb', uri: join(dir, 'lance') }, DIM),
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy: 'batch',
        delivery: SUITE_DELIVERY as Partial<DeliveryOptions>,
      });
    let frozen = false;
    try {
      const dw = await open();
      await dw.putMany(
        Array.from({ length: 10 }, (_, i) => ({ id: `before-${i}`, text: `written before ${i}` })),
      );
      await dw.flush();
      dw.pause();
      await dw.put({ id: 'pending', text: 'accepted, not yet delivered' });
      await signalServer('SIGSTOP');
      frozen = true;
      const put = await dw.put({ id: 'during', text: 'while frozen' }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(put, 'a write while frozen fails typed and retryable').toMatchObject({
        name: 'BackendUnavailableError',
        retryable: true,
      });
      const report = await dw.close({ timeoutMs: 1_000 });
      expect(report.drained).toBe(false);
      expect(report.error?.name).toMatch(/BackendUnavailableError|TimeoutError/);
      await signalServer('SIGCONT');
      frozen = false;

      const next = await open();
      try {
        expect(await next.flush({ timeoutMs: 20_000 })).toMatchObject({ pending: 0, deadLetters: 0 });
        expect((await next.syncStatus('pending')).state).toBe('synced');
        // A write whose answer never came is in doubt: the server may run it once it thaws (it was sent). Either
        // way it is whole — absent, or committed and delivered — never half-written.
        expect(['absent', 'synced']).toContain((await next.syncStatus('during')).state);
      } finally {
        await next.close({ drain: false });
      }
    } finally {
      if (frozen) await signalServer('SIGCONT').catch(() => {});
      await remove();
    }
  });
});
