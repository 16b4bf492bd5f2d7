import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sqliteBackend } from '../src/backends/relational-backends.js';
import { measurePutLayers, PUT_LAYERS } from '../src/runs/put-layers.js';

// Plumbing only (no timing assertions): every layer writes its records and is summarised.
describe('put-layers run', () => {
  it('times each layer on fresh storage and reports them from the floor up', async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'dw-put-layers-test-'));
    try {
      const backend = sqliteBackend(workDir);
      const results = await measurePutLayers({ backend, workDir, records: 30, rounds: 2, dimension: 8 });
      expect(results.map((r) => r.layer)).toEqual([...PUT_LAYERS]);
      for (const r of results) {
        expect(r.p50).toBeGreaterThan(0);
        expect(r.p90).toBeGreaterThanOrEqual(r.p50);
        expect(r.mean).toBeGreaterThan(0);
      }
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  });
});
