import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashingEmbedder } from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { toMb } from '../measure/rss-sampler.js';
import { collectGarbage } from './backlog.js';

/** Distinct ids the commits cycle over: the table stays this size, so every commit costs the same. */
const IDS = 1_000;

/** One RSS reading after `commits` commits (GC'd first when `--expose-gc` is on). */
export interface CommitMemorySample {
  commits: number;
  rssMb: number;
}

/** RSS of one process against the LanceDB commits it made. */
export interface CommitMemoryResult {
  /** `refreshTableEvery` of the store (0: one connection and table handle for the store's life). */
  refreshTableEvery: number;
  commits: number;
  dimension: number;
  samples: CommitMemorySample[];
  /** Mean time per commit, ms. */
  msPerCommit: number;
}

/**
 * Makes `commits` single-record upserts (each one LanceDB commit) through {@link LanceDbVectorStore} into a
 * fresh table, cycling over {@link IDS} ids, and reads RSS every `sampleEvery` commits. Runs in the calling
 * process: call it in a fresh one (see `commit-memory-cli.ts`) so earlier work does not blur the reading.
 */
export async function measureCommitMemory(o: {
  commits: number;
  sampleEvery: number;
  dimension: number;
  refreshTableEvery: number | undefined;
}): Promise<CommitMemoryResult> {
  const dir = await mkdtemp(join(tmpdir(), 'dw-commit-memory-'));
  const embedder = new HashingEmbedder({ dimension: o.dimension });
  const embeddings = Array.from({ length: IDS }, (_, i) => embedder.embedOne(`record ${i}`));
  const store = await LanceDbVectorStore.open({
    uri: dir,
    dimension: o.dimension,
    ...(o.refreshTableEvery === undefined ? {} : { refreshTableEvery: o.refreshTableEvery }),
  });
  const samples: CommitMemorySample[] = [];
  const sample = (commits: number) => {
    collectGarbage();
    samples.push({ commits, rssMb: toMb(process.memoryUsage.rss()) });
  };
  try {
    sample(0);
    const started = performance.now();
    for (let i = 1; i <= o.commits; i++) {
      const k = i % IDS;
      await store.upsert([
        { id: `r-${k}`, embedding: embeddings[k]!, text: `record ${k} at ${i}`, metadata: { i }, version: i },
      ]);
      if (i % o.sampleEvery === 0 || i === o.commits) sample(i);
    }
    return {
      refreshTableEvery: store.options.refreshTableEvery,
      commits: o.commits,
      dimension: o.dimension,
      samples,
      msPerCommit: (performance.now() - started) / o.commits,
    };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** RSS at the sample nearest `commits` (the first at or after it), MB; `null` without one. */
export function rssAt(result: CommitMemoryResult, commits: number): number | null {
  return result.samples.find((s) => s.commits >= commits)?.rssMb ?? null;
}

/**
 * The target of a long drain: RSS after 10,000 commits within 10 % of RSS after 1,000 (`ratio` ≤ 1.1).
 * `n/a` when the run made fewer than 10,000 commits.
 */
export function commitMemoryTarget(result: CommitMemoryResult): {
  at1k: number | null;
  at10k: number | null;
  ratio: number | null;
  status: 'met' | 'missed' | 'n/a';
} {
  const at1k = rssAt(result, 1_000);
  const at10k = result.commits >= 10_000 ? rssAt(result, 10_000) : null;
  if (at1k === null || at10k === null) return { at1k, at10k, ratio: null, status: 'n/a' };
  const ratio = Math.round((at10k / at1k) * 1000) / 1000;
  return { at1k, at10k, ratio, status: ratio <= 1.1 ? 'met' : 'missed' };
}
