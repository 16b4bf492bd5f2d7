import { describe, expect, it } from 'vitest';
import { measureOptimizePacing } from '../src/runs/optimize-pacing.js';

// Plumbing only (no timing assertions): the run loads, writes, and reads the store's pacing state.
describe('optimize-pacing run', () => {
  it('loads the table, times every write and reports the optimizes the writes triggered', async () => {
    const result = await measureOptimizePacing({ rows: 300, writes: 60, dimension: 8, autoOptimizeShare: 1 });
    expect(result).toMatchObject({ rows: 300, writes: 60, autoOptimizeShare: 1 });
    // 60 writes past the default autoOptimizeEvery of 50: exactly one automatic optimize.
    expect(result.optimizes).toBe(1);
    expect(result.lastOptimizeMs).toBeGreaterThan(0);
    expect(result.p50Ms).toBeGreaterThan(0);
    expect(result.maxMs).toBeGreaterThanOrEqual(result.p99Ms);
  });
});
