import { createDualWrite, type DualwriteStats, HashingEmbedder, verifyConsistency } from '@dualwrite/core';
import type { RelationalBackend } from '../backends/relational-backends.js';
import type { VectorBackend } from '../backends/vector-backends.js';
import type { SymbolSummary } from '../input/extract-summaries.js';
import { recordAt } from '../input/record-at.js';
import { RssSampler, toMb } from '../measure/rss-sampler.js';
import { instrument } from './instrument.js';
import { round } from './run-result.js';
import { strategyConfig } from './strategy-run.js';
import type { RunSettings } from './types.js';

/** Records per `putMany` while filling the backlog. */
const FILL_CHUNK = 1000;
/** The project's target: a 100,000-record backlog drains within this many MB of idle RSS. */
export const BACKLOG_TARGET = { records: 100_000, maxDeltaMb: 150 } as const;

/** Result of one `--backlog` measurement. */
export interface BacklogResult {
  vector: string;
  relational: string;
  strategy: 'async-queue' | 'batch';
  records: number;
  /** Time to fill the outbox with draining paused, ms. */
  writeMs: number;
  /** RSS after the backlog was written (GC'd first when `--expose-gc` is on), MB. */
  idleRssMb: number;
  /** Peak RSS while draining, MB. */
  peakRssMb: number;
  /** `peakRssMb - idleRssMb`. */
  peakRssDeltaMb: number;
  /** From `resume()` until `flush()` resolved, ms. */
  drainMs: number;
  drainThroughput: number;
  vectorCalls: number;
  retries: number;
  lost: number;
  orphans: number;
  /** `met` / `missed` against {@link BACKLOG_TARGET}, or `n/a (...)` below its size. */
  target: string;
}

/** Inputs of {@link runBacklog}. */
export interface BacklogOptions {
  runId: string;
  strategy: 'async-queue' | 'batch';
  count: number;
  summaries: readonly SymbolSummary[];
  dimension: number;
  settings: RunSettings;
  vector: VectorBackend;
  relational: RelationalBackend;
  workDir: string;
  onProgress(records: number): void;
}

/**
 * Backlog drain: writes `count` records with delivery paused (`dw.pause()`, `putMany` in chunks of
 * 1,000, embeddings computed per chunk so the input does not sit in memory), notes idle RSS,
 * `resume()`s, `flush()`es, and reports the peak RSS over idle while draining.
 */
export async function runBacklog(o: BacklogOptions): Promise<BacklogResult> {
  const rel = await o.relational.open(o.runId);
  try {
    const vec = await o.vector.open(o.runId, o.dimension);
    try {
      const wrapped = instrument(vec.store, o.runId, o.settings);
      const dw = await createDualWrite({
        relational: rel.store,
        vector: wrapped,
        strategy: strategyConfig(o.strategy, o.settings),
        closeStores: false,
      });
      let writeMs: number;
      let idle: number;
      let drainMs: number;
      let stats: DualwriteStats;
      const rss = new RssSampler();
      try {
        dw.pause();
        const embedder = new HashingEmbedder({ dimension: o.dimension });
        const writeStart = performance.now();
        for (let i = 0; i < o.count; i += FILL_CHUNK) {
          const n = Math.min(FILL_CHUNK, o.count - i);
          await dw.putMany(Array.from({ length: n }, (_, j) => recordAt(o.summaries, i + j, embedder)));
          o.onProgress(n);
        }
        writeMs = performance.now() - writeStart;
        collectGarbage();
        await new Promise((r) => setTimeout(r, 100));
        idle = process.memoryUsage.rss();
        rss.start();
        const drainStart = performance.now();
        try {
          dw.resume();
          await dw.flush({ timeoutMs: o.settings.flushTimeoutMs });
          drainMs = performance.now() - drainStart;
        } finally {
          rss.stop();
        }
        stats = await dw.stats();
      } finally {
        await dw.close({ drain: false, timeoutMs: 5_000 });
      }
      const report = await verifyConsistency(rel.store, vec.store);
      const deltaMb = toMb(Math.max(0, rss.peakBytes - idle));
      return {
        vector: vec.store.name,
        relational: rel.store.name,
        strategy: o.strategy,
        records: o.count,
        writeMs: round(writeMs, 1),
        idleRssMb: toMb(idle),
        peakRssMb: toMb(rss.peakBytes),
        peakRssDeltaMb: deltaMb,
        drainMs: round(drainMs, 1),
        drainThroughput: round((o.count / Math.max(drainMs, 1e-6)) * 1000, 1),
        vectorCalls: stats.vectorCalls,
        retries: stats.retries,
        lost: report.lost + report.stale + report.mismatched,
        orphans: report.orphans,
        target:
          o.count >= BACKLOG_TARGET.records
            ? deltaMb <= BACKLOG_TARGET.maxDeltaMb
              ? 'met'
              : 'missed'
            : `n/a (needs --backlog ${BACKLOG_TARGET.records})`,
      };
    } finally {
      await vec.dispose();
    }
  } finally {
    await rel.dispose();
  }
}

/** Runs a full GC when Node was started with `--expose-gc` (the `bench` script does). */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === 'function') gc();
}
