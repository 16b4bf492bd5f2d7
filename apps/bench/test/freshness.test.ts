import { describe, expect, it } from 'vitest';
import { freshnessAdvice } from '../src/report/freshness-report.js';
import { BACKLOG_SAMPLE_MS, backlogSeries, type FreshnessCell, isSaturated } from '../src/runs/freshness.js';

describe('freshness', () => {
  it('counts the records arrived but not yet searchable at each sample, from the arrivals and visibility times', () => {
    const step = BACKLOG_SAMPLE_MS;
    // Three arrivals; the first becomes visible quickly, the second late, the third never.
    const series = backlogSeries([0, step, 2 * step], [10, 3 * step + 1, Number.POSITIVE_INFINITY]);
    expect(series.slice(0, 5)).toEqual([1, 1, 2, 2, 1]);
  });

  it('calls a backlog saturated only when it keeps growing', () => {
    expect(isSaturated([0, 3, 1, 4, 2, 3, 1, 2, 3, 2, 1, 3], 200)).toBe(false);
    expect(isSaturated([10, 40, 80, 120, 160, 200, 240, 280, 320, 360, 400, 440], 200)).toBe(true);
    expect(isSaturated([5, 5, 5], 20)).toBe(false); // too short to say
  });

  it('advises, per rate, the kept-up strategy with the lowest p99 and names those that fell behind', () => {
    const cell = (
      strategy: string,
      p99: number,
      saturated = false,
      relational = 'sqlite',
    ): FreshnessCell => ({
      strategy,
      vector: 'lancedb',
      relational,
      rate: 200,
      seconds: 8,
      offered: 1600,
      failed: 0,
      visible: { p50: p99 / 2, p95: p99, p99, max: p99 },
      caller: { p50: 1, p99: 2 },
      vectorCalls: 10,
      backlog: [],
      saturated,
      lost: 0,
      stale: 0,
    });
    expect(freshnessAdvice([cell('sync-2pc', 9_000, true), cell('async-queue', 40), cell('batch', 80)])).toBe(
      '- lancedb, 200 rec/s: **async-queue** (searchable within 40 ms at p99); sync-2pc fell behind.',
    );
    // Each source of truth gets its own advice.
    expect(
      freshnessAdvice([
        cell('async-queue', 40),
        cell('batch', 300, false, 'postgres'),
        cell('async-queue', 900, true, 'postgres'),
      ]),
    ).toBe(
      '- lancedb, 200 rec/s: **async-queue** (searchable within 40 ms at p99).\n' +
        '- lancedb + postgres, 200 rec/s: **batch** (searchable within 300 ms at p99); async-queue fell behind.',
    );
  });
});
