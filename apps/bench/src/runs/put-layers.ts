import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contentHash, createDualWrite } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing/stores';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { RawSqliteTable } from '../backends/raw-sqlite-table.js';
import type { RawRow } from '../backends/relational-backends.js';
import { median, percentile } from '../measure/percentiles.js';

/** The layers of a durable put {@link measurePutLayers} times, from the floor up. */
export const PUT_LAYERS = ['raw-outbox-tx', 'store-transaction', 'dw.put (delivery paused)'] as const;
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

/** One round of `layer` over `items` in a fresh SQLite file under `dir`. */
async function round(layer: PutLayer, items: readonly RawRow[], dir: string, dimension: number) {
  const path = join(dir, `${layer.replace(/\W+/g, '-')}-${Date.now()}.db`);
  if (layer === 'raw-outbox-tx') {
    const table = new RawSqliteTable(path);
    try {
      return await time(items, (row) => table.insertWithOutbox(row));
    } finally {
      table.close();
    }
  }
  const store = new SqliteRelationalStore({ path });
  await store.init();
  if (layer === 'store-transaction')
    try {
      // What the facade asks of the store for one put: read (no-op check), version, record row, outbox entry.
      return await time(items, (row) =>
        store.transaction(async (tx) => {
          await tx.getRecord(row.id);
          const version = await tx.nextVersion();
          const now = Date.now();
          const hash = contentHash(row.text, row.metadata, row.embedding);
          await tx.writeRecord({
            ...row,
            version,
            deleted: false,
            contentHash: hash,
            syncedVersion: null,
            now,
          });
          await tx.enqueue(row.id, version, 'upsert', now);
        }),
      );
    } finally {
      await store.close();
    }
  const dw = await createDualWrite({
    relational: store,
    vector: new MemoryVectorStore({ dimension }),
    strategy: 'batch',
    driftCheck: false,
  });
  dw.pause();
  try {
    return await time(items, ({ version: _, ...record }) => dw.put(record));
  } finally {
    await dw.close({ drain: false });
  }
}

/**
 * Where a durable put's time goes on SQLite, without delivery competing for the event loop and the cores:
 * the hand-written floor (`raw-outbox-tx`), the store's own transaction for one put (the statements the facade
 * asks for, through the public `transaction` API), and `dw.put` with delivery paused. Each of `rounds`
 * rounds times `records` puts of new ids per layer, the layers in rotating order, each in a fresh file.
 */
export async function measurePutLayers(options: {
  records: number;
  rounds: number;
  dimension: number;
}): Promise<PutLayerResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'dw-put-layers-'));
  const items = rows(options.records, options.dimension);
  const samples = new Map<PutLayer, { p50: number; p90: number; mean: number }[]>(
    PUT_LAYERS.map((l) => [l, []]),
  );
  try {
    for (let r = 0; r < options.rounds; r++)
      for (let i = 0; i < PUT_LAYERS.length; i++) {
        const layer = PUT_LAYERS[(i + r) % PUT_LAYERS.length]!;
        const latencies = await round(layer, items, dir, options.dimension);
        samples.get(layer)!.push({
          p50: percentile(latencies, 50),
          p90: percentile(latencies, 90),
          mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
        });
      }
  } finally {
    await rm(dir, { recursive: true, force: true });
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
