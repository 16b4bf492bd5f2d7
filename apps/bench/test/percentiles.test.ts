import { describe, expect, it } from 'vitest';
import { median, percentile, summarizeLatencies } from '../src/measure/percentiles.js';

describe('percentile', () => {
  it('interpolates linearly between closest ranks (numpy default)', () => {
    const xs = [1, 2, 3, 4];
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile(xs, 100)).toBe(4);
    expect(percentile(xs, 50)).toBe(2.5);
    expect(percentile(xs, 25)).toBeCloseTo(1.75, 12);
    expect(percentile(xs, 95)).toBeCloseTo(3.85, 12);
  });

  it('sorts numerically, not as strings, and does not modify the input', () => {
    const xs = [10, 9, 100, 1];
    expect(percentile(xs, 50)).toBe(9.5);
    expect(xs).toEqual([10, 9, 100, 1]);
  });

  it('matches nearest values on 1..100', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(xs, 50)).toBeCloseTo(50.5, 12);
    expect(percentile(xs, 95)).toBeCloseTo(95.05, 12);
    expect(percentile(xs, 99)).toBeCloseTo(99.01, 12);
  });

  it('handles one value and rejects bad input', () => {
    expect(percentile([7], 99)).toBe(7);
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });
});

describe('summarizeLatencies / median', () => {
  it('gives p50/p95/p99', () => {
    const xs = Array.from({ length: 1000 }, (_, i) => i + 1);
    const s = summarizeLatencies(xs);
    expect(s.p50).toBeCloseTo(500.5, 9);
    expect(s.p95).toBeCloseTo(950.05, 9);
    expect(s.p99).toBeCloseTo(990.01, 9);
  });

  it('is all zeros for an empty sample; median is null', () => {
    expect(summarizeLatencies([])).toEqual({ p50: 0, p95: 0, p99: 0 });
    expect(median([])).toBeNull();
    expect(median([3, 1, 2])).toBe(2);
  });
});
