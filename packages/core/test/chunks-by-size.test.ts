import { describe, expect, it } from 'vitest';
import { chunksBySize } from '../src/index.js';

describe('chunksBySize', () => {
  it('cuts runs at the count or the byte budget, in order; a lone oversized item stands alone', () => {
    const size = (n: number) => n;
    expect(chunksBySize([1, 2, 3, 4, 5], 2, 100, size)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunksBySize([4, 4, 4, 9, 1], 10, 8, size)).toEqual([[4, 4], [4], [9], [1]]);
    expect(chunksBySize([], 3, 10, size)).toEqual([]);
  });
});
