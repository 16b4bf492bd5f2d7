import { createDualWrite, HashingEmbedder, verifyConsistency } from '@dualwrite/core';
import pg from 'pg';
import type { RelationalBackend, RelationalLocation } from '../backends/relational-backends.js';
import type { VectorBackend, VectorLocation } from '../backends/vector-backends.js';
import type { SymbolSummary } from '../input/extract-summaries.js';
import { recordAt } from '../input/record-at.js';
import { DrainWorkerProcess, type DrainWorkerReport } from './drain-process.js';
import { round } from './run-result.js';

/** Records per `putMany` (one transaction each) while filling the outbox. */
const FILL_CHUNK = 1000;
/** Longest wait for K workers to start (tsx compiles the sources in each), ms. */
const READY_TIMEOUT_MS = 180_000;
/** Longest wait for a worker to stop gracefully, ms. */
const STOP_TIMEOUT_MS = 30_000;
/** Outbox polling interval while draining, ms. */
const POLL_MS = 20;
/** Connection pool of each worker process (the worker's default is 4). */
const WORKER_POOL_SIZE = 2;
/** Poll interval of the workers' drainers (they wake on NOTIFY and keep claiming while there is work). */
const WORKER_POLL_MS = 1000;

/** One `--drain-workers` measurement: K worker processes draining one pre-filled PostgreSQL outbox. */
export interface DrainScalingResult {
  relational: string;
  vector: string;
  /** Strategy of the workers' drainers (`batch`, `--batch-size` records per claim and vector call). */
  strategy: 'batch';
  /** Worker processes (K). */
  workers: number;
  records: number;
  batchSize: number;
  /** Filling the outbox through a paused facade (`putMany` of 1,000 per transaction), ms. */
  writeMs: number;
  /** Spawning the K processes until all were connected and paused (not part of the drain time), ms. */
  startupMs: number;
  /** From `go` (every worker resumed) until the last change was acknowledged, ms. */
  drainMs: number;
  /** `records / drainMs`, records per second. */
  throughput: number;
  /** `throughput / throughput with 1 worker` on the same backends, or `null` when K=1 was not measured. */
  speedup: number | null;
  /** Changes each worker process delivered (acknowledged), in start order. */
  perWorker: number[];
  /** Vector store write calls, all workers. */
  vectorCalls: number;
  /** Rescheduled deliveries, all workers. */
  retries: number;
  /**
   * After the drain, from `verifyConsistency` (stale included); with `--drain-held-snapshot`, both drains'
   * counts summed.
   */
  lost: number;
  orphans: number;
  /**
   * `--drain-held-snapshot` only: the same drain (same K, records and batch size, on a fresh schema and vector
   * store) while another connection holds a REPEATABLE READ transaction open from before the resume until
   * the outbox is empty — from go until the last acknowledgement, ms.
   */
  heldSnapshotDrainMs?: number;
  /** `records / heldSnapshotDrainMs`, records per second. */
  heldSnapshotThroughput?: number;
  /** `heldSnapshotThroughput / throughput` (target ≥ {@link HELD_SNAPSHOT_TARGET}). */
  heldSnapshotRatio?: number;
}

/**
 * Drain throughput while a REPEATABLE READ transaction is held open, as a fraction of the throughput without
 * it, that the project targets (`--drain-held-snapshot`).
 */
export const HELD_SNAPSHOT_TARGET = 0.65;

/** Inputs of {@link runDrainScaling}. */
export interface DrainScalingOptions {
  runId: string;
  workers: number;
  count: number;
  summaries: readonly SymbolSummary[];
  dimension: number;
  batchSize: number;
  /** Longest drain before the measurement fails, ms. */
  timeoutMs: number;
  vector: VectorBackend;
  relational: RelationalBackend;
  /**
   * Also run the drain a second time (fresh schema and vector store) with an admin connection holding
   * `BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM <outbox>` open from before the resume until
   * the drain finished, and report its throughput next to the normal one (`heldSnapshot*` fields).
   */
  heldSnapshot?: boolean;
  /** Called with records written (fill) and delivered (drain). */
  onProgress(records: number): void;
  log(line: string): void;
}

/**
 * Drain scaling with K separate worker processes:
 *
 * 1. a fresh PostgreSQL schema and vector store; an API-tier facade with delivery paused (`pause()`) writes
 *    `count` records (outbox filled, nothing delivered) and closes without draining;
 * 2. K `dualwrite-worker` processes (`src/drain-worker.ts` around `@dualwrite/worker`'s `startWorker`) start,
 *    connect, and pause themselves; start-up is timed separately;
 * 3. every worker is resumed at once (`go`); the drain time runs from then until the last acknowledgement
 *    (the latest `synced` timestamp any worker reported, after the outbox was seen empty);
 * 4. the workers stop gracefully, then `verifyConsistency` must find lost = 0 and orphans = 0.
 *
 * With {@link DrainScalingOptions.heldSnapshot} all of it runs a second time on a fresh schema and vector
 * store, with a REPEATABLE READ transaction held open on another connection from just before step 3 until
 * the outbox is empty: its snapshot keeps every outbox row deleted meanwhile from being vacuumed or pruned,
 * so the claims have more dead rows to skip as the drain goes on.
 */
export async function runDrainScaling(o: DrainScalingOptions): Promise<DrainScalingResult> {
  if (o.relational.name !== 'postgres')
    throw new Error('--drain-workers needs the postgres relational backend');
  const plain = await drainOnce(o, o.runId, false);
  if (!o.heldSnapshot) return plain;
  const held = await drainOnce(o, `${o.runId}-rr`, true);
  return {
    ...plain,
    lost: plain.lost + held.lost,
    orphans: plain.orphans + held.orphans,
    heldSnapshotDrainMs: held.drainMs,
    heldSnapshotThroughput: held.throughput,
    heldSnapshotRatio: heldSnapshotRatio(plain.throughput, held.throughput),
  };
}

/** `held / plain`, rounded to 3 decimals (`0` when `plain` is not positive). */
export function heldSnapshotRatio(plain: number, held: number): number {
  return plain > 0 ? round(held / plain, 3) : 0;
}

/** One fill + drain + verify on a fresh schema and vector store; `held`: with the REPEATABLE READ snapshot. */
async function drainOnce(o: DrainScalingOptions, runId: string, held: boolean): Promise<DrainScalingResult> {
  const rel = await o.relational.open(runId);
  try {
    const vec = await o.vector.open(runId, o.dimension);
    try {
      // 1. Fill the outbox with delivery paused.
      const dw = await createDualWrite({
        relational: rel.store,
        vector: vec.store,
        strategy: { name: 'batch', maxBatchSize: o.batchSize },
        closeStores: false,
      });
      let writeMs = 0;
      try {
        dw.pause();
        const embedder = new HashingEmbedder({ dimension: o.dimension });
        for (let i = 0; i < o.count; i += FILL_CHUNK) {
          const n = Math.min(FILL_CHUNK, o.count - i);
          const chunk = Array.from({ length: n }, (_, j) => recordAt(o.summaries, i + j, embedder));
          const start = performance.now();
          await dw.putMany(chunk);
          writeMs += performance.now() - start;
          o.onProgress(n);
        }
      } finally {
        await dw.close({ drain: false, timeoutMs: 5_000 });
      }
      const filled = await rel.store.outboxStats(Date.now());
      if (filled.depth !== o.count)
        throw new Error(`outbox holds ${filled.depth} entries after writing ${o.count} records`);

      // 2. Start K workers (paused).
      const args = workerArgs(rel.location, vec.location, o.dimension, o.batchSize);
      const workers: DrainWorkerProcess[] = [];
      try {
        const spawnStart = performance.now();
        for (let k = 0; k < o.workers; k++)
          workers.push(new DrainWorkerProcess([...args, '--owner', `${runId}-w${k + 1}`], o.onProgress));
        const anyFailure = Promise.race(workers.map((w) => w.failed()));
        await Promise.race([Promise.all(workers.map((w) => w.ready(READY_TIMEOUT_MS))), anyFailure]);
        const startupMs = performance.now() - spawnStart;

        // 3. Go, and wait until the outbox is empty (with the snapshot held from before go until then).
        const snapshot = held ? await holdSnapshot(rel.location, o.count) : undefined;
        let emptyAt: number;
        let goAt: number;
        try {
          goAt = wallClock();
          for (const w of workers) w.go();
          emptyAt = await Promise.race([waitForEmptyOutbox(rel.store, o.timeoutMs), anyFailure]);
          // The last acknowledgement precedes the empty outbox; its `synced` message may still be on the way.
          const graceUntil = performance.now() + 2_000;
          while (sum(workers.map((w) => w.synced)) < o.count && performance.now() < graceUntil)
            await sleep(5);
        } finally {
          await snapshot?.release();
        }
        const lastAck = Math.max(...workers.map((w) => w.lastSyncedAt ?? Number.NEGATIVE_INFINITY));
        const drainMs = Math.max((Number.isFinite(lastAck) ? lastAck : emptyAt) - goAt, 1e-3);

        // 4. Stop the workers, then verify.
        const reports: DrainWorkerReport[] = await Promise.all(workers.map((w) => w.stop(STOP_TIMEOUT_MS)));
        await Promise.all(workers.map((w) => w.exited()));
        const report = await verifyConsistency(rel.store, vec.store);
        o.log(
          `drain ${o.workers} worker(s)${held ? ' with a held REPEATABLE READ snapshot' : ''}: ` +
            `${o.count} records in ${drainMs.toFixed(0)} ms ` +
            `(start-up ${(startupMs / 1000).toFixed(1)} s; per worker ${reports.map((r) => r.synced).join('/')})`,
        );
        return {
          relational: rel.store.name,
          vector: vec.store.name,
          strategy: 'batch',
          workers: o.workers,
          records: o.count,
          batchSize: o.batchSize,
          writeMs: round(writeMs, 1),
          startupMs: round(startupMs, 1),
          drainMs: round(drainMs, 1),
          throughput: round((o.count / drainMs) * 1000, 1),
          speedup: null,
          perWorker: reports.map((r) => r.synced),
          vectorCalls: sum(reports.map((r) => r.vectorCalls)),
          retries: sum(reports.map((r) => r.retries)),
          lost: report.lost + report.stale + report.mismatched,
          orphans: report.orphans,
        };
      } finally {
        for (const w of workers) w.kill();
        await Promise.all(workers.map((w) => w.exited()));
      }
    } finally {
      await vec.dispose();
    }
  } finally {
    await rel.dispose();
  }
}

/** Sets each result's `speedup`: throughput over the K=1 throughput of the same backends. */
export function withSpeedups(results: readonly DrainScalingResult[]): DrainScalingResult[] {
  return results.map((r) => {
    const base = results.find(
      (b) => b.workers === 1 && b.vector === r.vector && b.relational === r.relational,
    );
    return { ...r, speedup: base && base.throughput > 0 ? round(r.throughput / base.throughput, 3) : null };
  });
}

/** `dualwrite-worker` flags for the run's stores. */
export function workerArgs(
  relational: RelationalLocation,
  vector: VectorLocation,
  dimension: number,
  batchSize: number,
): string[] {
  if (relational.kind !== 'postgres')
    throw new Error('--drain-workers needs the postgres relational backend');
  const args = [
    '--relational',
    'postgres',
    '--database-url',
    relational.databaseUrl,
    '--pg-schema',
    relational.schema,
    '--table-prefix',
    relational.tablePrefix,
    // One drain loop needs one connection at a time; 2 (+1 for LISTEN) keeps K workers far below the
    // server's max_connections.
    '--pg-pool-size',
    String(WORKER_POOL_SIZE),
  ];
  if (vector.kind === 'lancedb') args.push('--vector', 'lancedb', '--lancedb-dir', vector.uri);
  else args.push('--vector', 'chroma', '--chroma-url', vector.url);
  args.push(
    '--collection',
    vector.kind === 'lancedb' ? vector.table : vector.collection,
    '--dim',
    String(dimension),
    // The records carry their embeddings (as in every other run): nothing to embed.
    '--embedder',
    'none',
    '--strategy',
    'batch',
    '--batch-size',
    String(batchSize),
    '--poll-interval-ms',
    String(WORKER_POLL_MS),
    '--log-level',
    'warn',
    '--stats-interval-ms',
    '0',
  );
  return args;
}

/**
 * Opens an admin connection to the run's database and takes a REPEATABLE READ snapshot that sees the whole
 * filled outbox (`SELECT count(*)` must return `expected`); `release()` rolls it back and disconnects.
 */
async function holdSnapshot(
  location: RelationalLocation,
  expected: number,
): Promise<{ release(): Promise<void> }> {
  if (location.kind !== 'postgres')
    throw new Error('--drain-held-snapshot needs the postgres relational backend');
  const client = new pg.Client({
    connectionString: location.databaseUrl,
    application_name: 'dwb-held-snapshot',
  });
  client.on('error', () => {}); // a lost admin connection fails the query below or ends the snapshot early
  await client.connect();
  try {
    const outbox = `${client.escapeIdentifier(location.schema)}.${client.escapeIdentifier(`${location.tablePrefix}outbox`)}`;
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${outbox}`);
    if (Number(rows[0]?.n) !== expected)
      throw new Error(`held snapshot sees ${rows[0]?.n} outbox entries, expected ${expected}`);
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  return {
    async release() {
      await client.query('ROLLBACK').catch(() => {});
      await client.end().catch(() => {});
    },
  };
}

/** Polls `outboxStats` until nothing is pending or leased; resolves with Unix ms when it saw that. */
async function waitForEmptyOutbox(
  store: { outboxStats(now: number): Promise<{ depth: number; inFlight: number }> },
  timeoutMs: number,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const s = await store.outboxStats(Date.now());
    if (s.depth === 0 && s.inFlight === 0) return wallClock();
    if (performance.now() > deadline)
      throw new Error(`outbox not empty after ${timeoutMs} ms (${s.depth} pending, ${s.inFlight} in flight)`);
    await sleep(POLL_MS);
  }
}

/** Unix time in ms with sub-ms resolution, comparable between processes of one machine. */
function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
