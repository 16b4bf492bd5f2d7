import { median } from '../measure/percentiles.js';
import type { DrainScalingResult } from '../runs/drain-scaling.js';
import type { RunResult } from '../runs/types.js';

/** One row of the terminal / Markdown table: a run kind on a backend, medians over its repeats. */
export interface SummaryRow extends RunResult {
  /** How many repeats were combined. */
  repeats: number;
}

/**
 * Groups runs by `(name, vector, relational)` in first-seen order and takes the median of every numeric
 * metric over the repeats (lost / orphans: the maximum, so one bad repeat shows).
 */
export function summarizeRuns(runs: readonly RunResult[]): SummaryRow[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of runs) {
    const key = `${r.name}|${r.vector}|${r.relational}`;
    const list = groups.get(key) ?? [];
    list.push(r);
    groups.set(key, list);
  }
  return [...groups.values()].map((list) => {
    const first = list[0]!;
    const med = (f: (r: RunResult) => number) => median(list.map(f)) ?? 0;
    return {
      ...first,
      callerLatencyMs: {
        p50: med((r) => r.callerLatencyMs.p50),
        p95: med((r) => r.callerLatencyMs.p95),
        p99: med((r) => r.callerLatencyMs.p99),
      },
      callerThroughput: med((r) => r.callerThroughput),
      timeToConsistencyMs: med((r) => r.timeToConsistencyMs),
      endToEndThroughput: med((r) => r.endToEndThroughput),
      vectorCalls: med((r) => r.vectorCalls),
      retries: med((r) => r.retries),
      peakRssMb: med((r) => r.peakRssMb),
      lost: Math.max(...list.map((r) => r.lost)),
      orphans: Math.max(...list.map((r) => r.orphans)),
      repeats: list.length,
    };
  });
}

/** Column headers shared by the terminal and Markdown tables. */
export const TABLE_HEADERS = [
  'run',
  'kind',
  'vector',
  'relational',
  'p50 ms',
  'p95 ms',
  'p99 ms',
  'caller rec/s',
  'consistent ms',
  'e2e rec/s',
  'vector calls',
  'retries',
  'peak RSS MB',
  'lost',
  'orphans',
] as const;

/** A row's cells, formatted for display, in {@link TABLE_HEADERS} order. */
export function rowCells(r: SummaryRow): string[] {
  return [
    r.name,
    r.kind,
    r.vector,
    r.relational,
    fmtMs(r.callerLatencyMs.p50),
    fmtMs(r.callerLatencyMs.p95),
    fmtMs(r.callerLatencyMs.p99),
    fmtInt(r.callerThroughput),
    fmtInt(r.timeToConsistencyMs),
    fmtInt(r.endToEndThroughput),
    fmtInt(r.vectorCalls),
    fmtInt(r.retries),
    r.peakRssMb.toFixed(0),
    String(r.lost),
    String(r.orphans),
  ];
}

/** Milliseconds with 3 significant decimals for small values. */
export function fmtMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

/** An integer with thousands separators. */
export function fmtInt(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

/** A ratio with 2-3 significant decimals, or `—`. */
export function fmtRatio(x: number | null): string {
  if (x === null) return '—';
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(3);
}

/** Column headers of the drain-scaling table (terminal, Markdown, HTML). */
export const DRAIN_HEADERS = [
  'vector',
  'relational',
  'workers',
  'records',
  'start-up s',
  'drain ms',
  'drain rec/s',
  'speed-up vs 1',
  'per worker',
  'vector calls',
  'retries',
  'lost',
  'orphans',
] as const;

/** Columns added after `speed-up vs 1` when a result measured the drain under a held snapshot. */
const HELD_HEADERS = ['held RR rec/s', 'held RR ratio'] as const;

/** Whether any result has the `--drain-held-snapshot` measurement (its columns are shown then). */
export function hasHeldSnapshot(results: readonly DrainScalingResult[]): boolean {
  return results.some((d) => d.heldSnapshotThroughput !== undefined);
}

/** The drain-scaling table's headers: {@link DRAIN_HEADERS}, plus the held-snapshot columns when `held`. */
export function drainHeaders(held: boolean): string[] {
  const i = DRAIN_HEADERS.indexOf('speed-up vs 1') + 1;
  return held
    ? [...DRAIN_HEADERS.slice(0, i), ...HELD_HEADERS, ...DRAIN_HEADERS.slice(i)]
    : [...DRAIN_HEADERS];
}

/** A drain-scaling result's cells, formatted for display, in {@link drainHeaders}`(held)` order. */
export function drainCells(d: DrainScalingResult, held = false): string[] {
  return [
    d.vector,
    d.relational,
    String(d.workers),
    fmtInt(d.records),
    (d.startupMs / 1000).toFixed(1),
    fmtMs(d.drainMs),
    fmtInt(d.throughput),
    d.speedup === null ? '—' : `${d.speedup.toFixed(2)}×`,
    ...(held
      ? [
          d.heldSnapshotThroughput === undefined ? '—' : fmtInt(d.heldSnapshotThroughput),
          d.heldSnapshotRatio === undefined ? '—' : `${d.heldSnapshotRatio.toFixed(2)}×`,
        ]
      : []),
    d.perWorker.join(' / '),
    fmtInt(d.vectorCalls),
    fmtInt(d.retries),
    String(d.lost),
    String(d.orphans),
  ];
}
