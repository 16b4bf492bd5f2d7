import { summarizeLatencies } from '../measure/percentiles.js';
import { toMb } from '../measure/rss-sampler.js';
import type { CallerTiming } from './caller-loop.js';
import type { RunName, RunResult } from './types.js';
import { STRATEGY_RUNS } from './types.js';

/** Inputs of {@link buildRunResult}. */
export interface RunMeasurements {
  name: RunName;
  vector: string;
  relational: string;
  records: number;
  batchSize: number;
  timing: CallerTiming;
  /** `performance.now()` when both stores held everything (flush resolved, or the last write returned). */
  consistentAt: number;
  vectorCalls: number;
  retries: number;
  peakRssBytes: number;
  lost: number;
  orphans: number;
}

/** Derives throughputs and percentiles and shapes one `runs[]` row. */
export function buildRunResult(m: RunMeasurements): RunResult {
  const callerMs = Math.max(m.timing.lastEnd - m.timing.firstStart, 1e-6);
  const ttc = Math.max(m.consistentAt - m.timing.firstStart, 1e-6);
  return {
    name: m.name,
    kind: (STRATEGY_RUNS as readonly string[]).includes(m.name) ? 'strategy' : 'baseline',
    vector: m.vector,
    relational: m.relational,
    records: m.records,
    batchSize: m.batchSize,
    callerLatencyMs: roundLatency(summarizeLatencies(m.timing.latencies)),
    callerThroughput: round((m.records / callerMs) * 1000, 1),
    timeToConsistencyMs: round(ttc, 1),
    endToEndThroughput: round((m.records / ttc) * 1000, 1),
    vectorCalls: m.vectorCalls,
    retries: m.retries,
    peakRssMb: toMb(m.peakRssBytes),
    lost: m.lost,
    orphans: m.orphans,
  };
}

function roundLatency(l: { p50: number; p95: number; p99: number }) {
  return { p50: round(l.p50, 4), p95: round(l.p95, 4), p99: round(l.p99, 4) };
}

/** Rounds to `digits` decimals. */
export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
