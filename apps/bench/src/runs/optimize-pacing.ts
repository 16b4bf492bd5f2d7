import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashingEmbedder } from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { percentileOfSorted } from '../measure/percentiles.js';

/** Write cost on one LanceDB table of a given size with automatic optimizes at one `autoOptimizeShare`. */
export interface OptimizePacingResult {
  rows: number;
  autoOptimizeShare: number;
  writes: number;
  /** Per single-record upsert, waits for background optimizes included, ms. */
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Automatic optimizes that ran during the writes. */
  optimizes: number;
  /** Duration of the latest one, ms. */
  lastOptimizeMs: number | null;
  /** Write calls between automatic optimizes at the end. */
  interval: number;
}

/** Rows per bulk upsert while loading the table. */
const LOAD_CHUNK = 5_000;

/**
 * Loads a fresh LanceDB table with `rows` records in bulk and optimizes it, then makes `writes` single-record
 * upserts of existing ids (the drain of a steady trickle) through {@link LanceDbVectorStore} with its default
 * `autoOptimizeEvery` and the given `autoOptimizeShare`, timing each call from the caller's side.
 */
export async function measureOptimizePacing(o: {
  rows: number;
  writes: number;
  dimension: number;
  autoOptimizeShare: number;
}): Promise<OptimizePacingResult> {
  const dir = await mkdtemp(join(tmpdir(), 'dw-optimize-pacing-'));
  const embedder = new HashingEmbedder({ dimension: o.dimension });
  const record = (i: number, version: number) => ({
    id: `r${i}`,
    text: `record ${i}`,
    metadata: {},
    embedding: embedder.embedOne(`record ${i} v${version}`),
    version,
  });
  const store = await LanceDbVectorStore.open({
    uri: dir,
    dimension: o.dimension,
    autoOptimizeShare: o.autoOptimizeShare,
  });
  try {
    for (let i = 0; i < o.rows; i += LOAD_CHUNK)
      await store.upsert(
        Array.from({ length: Math.min(LOAD_CHUNK, o.rows - i) }, (_, j) => record(i + j, 1)),
      );
    await store.optimize();
    const runsBefore = store.autoOptimizeState().runs;
    const latencies: number[] = [];
    for (let w = 0; w < o.writes; w++) {
      const started = performance.now();
      await store.upsert([record((w * 7_919) % o.rows, 2 + w)]);
      latencies.push(performance.now() - started);
    }
    const state = store.autoOptimizeState();
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      rows: o.rows,
      autoOptimizeShare: o.autoOptimizeShare,
      writes: o.writes,
      meanMs: latencies.reduce((a, b) => a + b, 0) / latencies.length,
      p50Ms: percentileOfSorted(sorted, 50),
      p99Ms: percentileOfSorted(sorted, 99),
      maxMs: sorted[sorted.length - 1] ?? 0,
      optimizes: state.runs - runsBefore,
      lastOptimizeMs: state.lastRunMs,
      interval: state.interval,
    };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
