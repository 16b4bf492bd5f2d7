import { describe, expect, it } from 'vitest';
import { measurePutLayers, PUT_LAYERS } from '../src/runs/put-layers.js';

// Plumbing only (no timing assertions): every layer writes its records and is summarised.
describe('put-layers run', () => {
  it('times each layer over its own file and reports them from the floor up', async () => {
    const results = await measurePutLayers({ records: 30, rounds: 2, dimension: 8 });
    expect(results.map((r) => r.layer)).toEqual([...PUT_LAYERS]);
    for (const r of results) {
      expect(r.p50).toBeGreaterThan(0);
      expect(r.p90).toBeGreaterThanOrEqual(r.p50);
      expect(r.mean).toBeGreaterThan(0);
    }
  });
});
