/**
 * Embeddings as model libraries return them — `Float32Array`, `Float64Array` — are accepted by the types as
 * they always were at run time, from the caller (`put`) and from an embedder (found by a new-user trial: `tsc`
 * refused both while the calls worked). This file is type-checked with the rest of the tests.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, type Embedder, type EmbeddingInput } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 4;

/** An embedder returning typed arrays, as ONNX / transformers.js pipelines do. */
const float32Embedder: Embedder = {
  id: 'float32-test',
  dimension: DIM,
  maxBatchSize: 16,
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((t) => new Float32Array([1, t.length, 0.5, 0]));
  },
};

describe('typed-array embeddings', () => {
  for (const strategy of ['sync-2pc', 'batch'] as const)
    it(`are accepted from the caller and the embedder (${strategy})`, async () => {
      const vector = new MemoryVectorStore({ dimension: DIM });
      const dw = await createDualWrite({
        relational: new MemoryRelationalStore(),
        vector,
        embedder: float32Embedder,
        strategy,
        driftCheck: false,
      });
      try {
        const given: EmbeddingInput = new Float32Array([0.25, 1, 0, 0]);
        await dw.put({ id: 'f32', text: 'given', embedding: given });
        await dw.put({ id: 'f64', text: 'given too', embedding: new Float64Array([0, 1, 0.125, 0]) });
        await dw.put({ id: 'embedded', text: 'by the embedder' });
        await dw.flush();
        const rows = await vector.getRecords!(['f32', 'f64', 'embedded']);
        expect(rows.get('f32')?.embedding).toEqual([0.25, 1, 0, 0]);
        expect(rows.get('f64')?.embedding).toEqual([0, 1, 0.125, 0]);
        expect(rows.get('embedded')?.embedding).toEqual([1, 15, 0.5, 0]);
      } finally {
        await dw.close();
      }
    });
});
