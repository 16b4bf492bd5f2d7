/** Caller latency summary, ms. */
export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
}

/**
 * The `p`-th percentile (0..100) of `values` by linear interpolation between closest ranks (the
 * "type 7" definition used by numpy's default and spreadsheets): rank `h = (n - 1) * p / 100`, result
 * `x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])` over the sorted values.
 * @throws {RangeError} for an empty input or `p` outside 0..100.
 */
export function percentile(values: readonly number[], p: number): number {
  return percentileOfSorted(sortedCopy(values), p);
}

/** {@link percentile} over values already sorted ascending (no copy, no sort). */
export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of an empty sample');
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in 0..100, got ${p}`);
  const h = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** p50 / p95 / p99 of a latency sample (ms); all `0` for an empty sample. */
export function summarizeLatencies(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { p50: 0, p95: 0, p99: 0 };
  const sorted = sortedCopy(values);
  return {
    p50: percentileOfSorted(sorted, 50),
    p95: percentileOfSorted(sorted, 95),
    p99: percentileOfSorted(sorted, 99),
  };
}

/** Median of `values` (`null` for an empty input). */
export function median(values: readonly number[]): number | null {
  return values.length === 0 ? null : percentile(values, 50);
}

function sortedCopy(values: readonly number[]): number[] {
  // Typed-array sort is numeric (a plain Array sort would compare strings).
  return Array.from(Float64Array.from(values).sort());
}
