import { createDualWrite, type VectorStore } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing/stores';
import type { RawRow, RelationalBackend } from '../backends/relational-backends.js';
import { lanceDbBackend } from '../backends/vector-backends.js';
import { median, percentile } from '../measure/percentiles.js';

/**
 * The layers of a durable put {@link measurePutLayers} times, from the floor up: the backend's hand-written
 * record + outbox write (`raw-outbox-tx`), the store's own write call (`writeChanges`, what the async strategies
 * call for a put), `dw.put` with delivery paused, then `dw.put` while delivery runs in the same process into the
 * in-memory reference index (what delivery costs on the source of truth: claims, reads, acks) and into LanceDB
 * (what it costs with a real index on the same cores).
 */
export const PUT_LAYERS = [
  'raw-outbox-tx',
  'store.writeChanges',
  'dw.put (delivery paused)',
  'dw.put (delivering, memory index)',
  'dw.put (delivering, lancedb)',
] as const;
export type PutLayer = (typeof PUT_LAYERS)[number];

/** One layer's latency, ms: medians over the rounds of each round's p50 / p90 / mean. */
export interface PutLayerResult {
  layer: PutLayer;
  p50: number;
  p90: number;
  mean: number;
}

/** `count` records of `dimension`-d embeddings, about 300 characters of text and a small metadata object. */
function rows(count: number, dimension: number): RawRow[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `layer-${i}`,
    text: `record ${i} of the put-layers run, a few sentences of text `.repeat(5),
    embedding: Array.from({ length: dimension }, (_, j) => Math.sin(i * 7 + j)),
    metadata: { path: `src/file-${i}.ts`, n: i },
    version: 1,
  }));
}

/** Times `write` once per row, in order; returns the latencies, ms. */
async function time(items: readonly RawRow[], write: (row: RawRow) => unknown): Promise<number[]> {
  const out: number[] = [];
  for (const row of items) {
    const start = performance.now();
    await write(row);
    out.push(performance.now() - start);
  }
  return out;
}

/** A fresh index for a delivering layer, and how to throw it away. */
async function openIndex(
  layer: PutLayer,
  runId: string,
  workDir: string,
  dimension: number,
): Promise<{ store: VectorStore; dispose(): Promise<void> }> {
  if (layer === 'dw.put (delivering, lancedb)') return lanceDbBackend(workDir).open(runId, dimension);
  return { store: new MemoryVectorStore({ dimension }), dispose: async () => {} };
}

/** One round of `layer` over `items` in fresh storage of `backend` (a LanceDB directory under `workDir`). */
async function round(
  layer: PutLayer,
  items: readonly RawRow[],
  backend: RelationalBackend,
  workDir: string,
  dimension: number,
  runId: string,
): Promise<number[]> {
  if (layer === 'raw-outbox-tx') {
    const table = await backend.openRawTable(runId);
    try {
      return await time(items, (row) => table.insertWithOutbox(row));
    } finally {
      await table.dispose();
    }
  }
  const lease = await backend.open(runId);
  try {
    if (layer === 'store.writeChanges') {
      const { store } = lease;
      if (!store.writeChanges) throw new Error(`${backend.name}: the store has no writeChanges`);
      await store.init();
      return await time(items, ({ version: _, embedding, ...rest }) =>
        store.writeChanges!([{ op: 'put', record: { ...rest, embedding: [...embedding] } }], Date.now()),
      );
    }
    const index = await openIndex(layer, `${runId}-index`, workDir, dimension);
    try {
      const dw = await createDualWrite({
        relational: lease.store,
        vector: index.store,
        strategy: 'batch',
        driftCheck: false,
        closeStores: false,
      });
      if (layer === 'dw.put (delivery paused)') dw.pause();
      try {
        return await time(items, ({ version: _, ...record }) => dw.put(record));
      } finally {
        await dw.close({ drain: false });
      }
    } finally {
      await index.dispose();
    }
  } finally {
    await lease.dispose();
  }
}

/**
 * Where a durable put's time goes on `backend`, layer by layer (see {@link PUT_LAYERS}). Each of `rounds` rounds
 * times `records` puts of new ids per layer, the layers in rotating order, each on fresh storage (a new SQLite
 * file, PostgreSQL schema or MySQL database; a new index). The delivering layers run `batch` with its defaults:
 * their caller latency is the bench's caller p50, with its causes separated.
 */
export async function measurePutLayers(options: {
  backend: RelationalBackend;
  workDir: string;
  records: number;
  rounds: number;
  dimension: number;
}): Promise<PutLayerResult[]> {
  const items = rows(options.records, options.dimension);
  const samples = new Map<PutLayer, { p50: number; p90: number; mean: number }[]>(
    PUT_LAYERS.map((l) => [l, []]),
  );
  const tag = `pl_${process.pid}_${Date.now().toString(36)}`;
  for (let r = 0; r < options.rounds; r++)
    for (let i = 0; i < PUT_LAYERS.length; i++) {
      const layer = PUT_LAYERS[(i + r) % PUT_LAYERS.length]!;
      const latencies = await round(
        layer,
        items,
        options.backend,
        options.workDir,
        options.dimension,
        `${tag}_${r}_${i}`,
      );
      samples.get(layer)!.push({
        p50: percentile(latencies, 50),
        p90: percentile(latencies, 90),
        mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
      });
    }
  return PUT_LAYERS.map((layer) => {
    const s = samples.get(layer)!;
    return {
      layer,
      p50: median(s.map((x) => x.p50))!,
      p90: median(s.map((x) => x.p90))!,
      mean: median(s.map((x) => x.mean))!,
    };
  });
}
