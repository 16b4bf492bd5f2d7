import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openVector } from '@dualwrite/config';
import { createDualWrite, HashingEmbedder, type StrategyConfig, verifyConsistency } from '@dualwrite/core';
import { InstrumentedVectorStore } from '../backends/instrumented-vector-store.js';
import { type RelationalBackend, sqliteBackend } from '../backends/relational-backends.js';
import { percentileOfSorted } from '../measure/percentiles.js';

/** Most puts in flight at once: the open-loop caller is a server with this many request workers. */
export const FRESHNESS_MAX_IN_FLIGHT = 256;
/** Interval of the backlog series, ms. */
export const BACKLOG_SAMPLE_MS = 250;

/** What one strategy × backend × offered rate measured. Times in ms. */
export interface FreshnessCell {
  strategy: string;
  vector: string;
  /** Source of truth: `sqlite`, `postgres` or `mysql`. */
  relational: string;
  /** Offered arrival rate, records/s (arrivals are scheduled at fixed intervals, not paced by the callers). */
  rate: number;
  seconds: number;
  offered: number;
  /** Puts that threw (typed errors, e.g. backpressure); none are expected. */
  failed: number;
  /** Time from each record's scheduled arrival to the return of the vector call that carried it. */
  visible: { p50: number; p95: number; p99: number; max: number };
  /** Time from each record's scheduled arrival to the return of its `put` (queueing for a caller included). */
  caller: { p50: number; p99: number };
  vectorCalls: number;
  /**
   * Records that had arrived and were not yet searchable, every {@link BACKLOG_SAMPLE_MS} from the first
   * arrival until the last became searchable (computed from the arrival and visibility times, so a busy
   * event loop cannot skip samples).
   */
  backlog: number[];
  /**
   * The backlog kept growing while records arrived (judged on the samples of the arrival window): the
   * strategy does not keep up at this rate.
   */
  saturated: boolean;
  /** `verifyConsistency` after the final flush. */
  lost: number;
  stale: number;
}

const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length === 0 ? 0 : Math.round(percentileOfSorted(sorted, p) * 10) / 10);
  return { p50: at(50), p95: at(95), p99: at(99), max: Math.round(sorted.at(-1) ?? 0) };
};

/**
 * Records arrived but not yet searchable at every {@link BACKLOG_SAMPLE_MS} from the first arrival until
 * the last record became searchable (`visibleAt` `Infinity` for one that never did).
 */
export function backlogSeries(arrivals: readonly number[], visibleAt: readonly number[]): number[] {
  if (arrivals.length === 0) return [];
  const a = [...arrivals].sort((x, y) => x - y);
  const v = [...visibleAt].sort((x, y) => x - y);
  const end = Math.max(a.at(-1)!, ...v.filter(Number.isFinite));
  const out: number[] = [];
  let i = 0;
  let j = 0;
  for (let t = a[0]!; t <= end + BACKLOG_SAMPLE_MS; t += BACKLOG_SAMPLE_MS) {
    while (i < a.length && a[i]! <= t) i++;
    while (j < v.length && v[j]! <= t) j++;
    out.push(i - j);
  }
  return out;
}

/**
 * Whether a backlog series keeps growing: the mean of its last quarter is above the mean of its second
 * quarter by more than 5 % of the records offered per second (noise of a healthy queue stays below that).
 */
export function isSaturated(backlog: readonly number[], rate: number): boolean {
  if (backlog.length < 8) return false;
  const q = Math.floor(backlog.length / 4);
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return mean(backlog.slice(-q)) - mean(backlog.slice(q, 2 * q)) > Math.max(1, rate * 0.05);
}

/**
 * Open-loop freshness: records arrive at `rate` per second for `seconds` (the given relational backend —
 * SQLite in a temp dir by default, a fresh schema / database on a server otherwise — and vector backend,
 * caller-supplied embeddings, one new id per arrival); each arrival gets a caller as soon as one
 * of {@link FRESHNESS_MAX_IN_FLIGHT} is free. Measures per record how long after its *scheduled* arrival it
 * became searchable (the vector call that carried it returned; for sync-2pc, within the put), the caller
 * latency, and the outbox backlog over time; then flushes and checks the index against SQLite.
 */
export async function runFreshnessCell(options: {
  strategy: StrategyConfig;
  vector: 'lancedb' | 'chroma';
  chromaUrl?: string;
  rate: number;
  seconds: number;
  dimension?: number;
  /** Source of truth (default: SQLite in the cell's temp dir). */
  relational?: RelationalBackend;
}): Promise<FreshnessCell> {
  const dimension = options.dimension ?? 384;
  const dir = await mkdtemp(join(tmpdir(), 'dw-freshness-'));
  const embedder = new HashingEmbedder({ dimension });
  const offered = Math.round(options.rate * options.seconds);
  const embeddings = Array.from({ length: offered }, (_, i) => embedder.embedOne(`freshness record ${i}`));
  const visibleAt = new Map<string, number>();
  const lease = await (options.relational ?? sqliteBackend(dir)).open(
    `fresh_${process.pid}_${Date.now().toString(36)}`,
  );
  try {
    const relational = lease.store;
    const inner = (
      await openVector(
        options.vector === 'lancedb'
          ? { kind: 'lancedb', lancedbDir: join(dir, 'lance') }
          : { kind: 'chroma', chromaUrl: options.chromaUrl, collection: `fresh-${Date.now()}` },
        dimension,
      )
    ).store;
    const vector = new InstrumentedVectorStore(inner, {
      latencyMs: 0,
      failureRate: 0,
      random: Math.random,
      onUpserted: (records) => {
        const now = performance.now();
        for (const r of records) if (!visibleAt.has(r.id)) visibleAt.set(r.id, now);
      },
    });
    const dw = await createDualWrite({ relational, vector, strategy: options.strategy, driftCheck: false });
    try {
      const scheduled: number[] = [];
      const returned: number[] = [];
      const start = performance.now() + 50;
      const interval = 1000 / options.rate;
      let next = 0;
      let inFlight = 0;
      let failed = 0;
      await new Promise<void>((done) => {
        const pump = () => {
          const now = performance.now();
          while (next < offered && inFlight < FRESHNESS_MAX_IN_FLIGHT && start + next * interval <= now) {
            const i = next++;
            scheduled[i] = start + i * interval;
            inFlight++;
            dw.put({ id: `f-${i}`, text: `freshness record ${i}`, embedding: embeddings[i]! }).then(
              () => {
                returned[i] = performance.now();
                inFlight--;
                if (next >= offered && inFlight === 0) done();
                else setImmediate(pump);
              },
              () => {
                failed++;
                returned[i] = performance.now();
                inFlight--;
                if (next >= offered && inFlight === 0) done();
                else setImmediate(pump);
              },
            );
          }
          if (next < offered) setTimeout(pump, Math.max(0, start + next * interval - performance.now()));
        };
        pump();
      });
      await dw.flush({ timeoutMs: 600_000 });
      const check = await verifyConsistency(relational, vector);
      const visible = scheduled.map((t, i) => (visibleAt.get(`f-${i}`) ?? Number.NaN) - t);
      const backlog = backlogSeries(
        scheduled,
        scheduled.map((_, i) => visibleAt.get(`f-${i}`) ?? Number.POSITIVE_INFINITY),
      );
      const arrivalSamples = Math.floor((options.seconds * 1000) / BACKLOG_SAMPLE_MS);
      return {
        strategy: dw.strategyName,
        vector: options.vector,
        relational: relational.name,
        rate: options.rate,
        seconds: options.seconds,
        offered,
        failed,
        visible: summary(visible.filter(Number.isFinite)),
        caller: (({ p50, p99 }) => ({ p50, p99 }))(summary(returned.map((t, i) => t - scheduled[i]!))),
        vectorCalls: vector.writeCalls,
        backlog,
        saturated: isSaturated(backlog.slice(0, arrivalSamples), options.rate),
        lost: check.lost + (visible.length - visible.filter(Number.isFinite).length),
        stale: check.stale + check.mismatched,
      };
    } finally {
      await dw.close({ drain: false, timeoutMs: 5_000 });
    }
  } finally {
    await lease.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}
