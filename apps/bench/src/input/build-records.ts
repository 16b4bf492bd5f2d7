import { HashingEmbedder } from '@dualwrite/core';
import { extractSummariesFromFile, type SymbolSummary } from './extract-summaries.js';
import { type BenchRecord, recordAt } from './record-at.js';
import { type SourceFile, sourceTreeFiles, typescriptLibFiles } from './source-files.js';

export type { BenchRecord } from './record-at.js';

/** Where the input came from and whether it had to be cycled. */
export interface InputInfo {
  /** `typescript-lib` or the `--source` directory. */
  source: string;
  /** Files read. */
  filesRead: number;
  /** Distinct documented declarations available (up to what was needed). */
  available: number;
  /** Records produced (the largest count any run asked for). */
  produced: number;
  /** `true` when `produced > available`: ids were suffixed `#2`, `#3`, ... on later passes. */
  cycled: boolean;
}

/**
 * Reads documented declarations from `files` in order until `limit` are found (or the files run out).
 * Stopping early keeps start-up fast; the result is deterministic for a given `limit`.
 */
export function collectSummaries(
  files: readonly SourceFile[],
  limit: number,
): {
  summaries: SymbolSummary[];
  filesRead: number;
} {
  const summaries: SymbolSummary[] = [];
  let filesRead = 0;
  for (const file of files) {
    if (summaries.length >= limit) break;
    filesRead++;
    for (const s of extractSummariesFromFile(file.label, file.path)) summaries.push(s);
  }
  return { summaries: summaries.slice(0, limit), filesRead };
}

/** The files of `--source DIR`, or TypeScript's own `lib.*.d.ts` when `sourceDir` is undefined. */
export function inputFiles(sourceDir: string | undefined): SourceFile[] {
  return sourceDir === undefined ? typescriptLibFiles() : sourceTreeFiles(sourceDir);
}

/**
 * Loads the input and builds `count` records with embeddings of dimension `dim`. Reads up to
 * `summaryLimit` (default `count`) declarations, so a later, larger use (the backlog) cycles less.
 */
export function buildRecords(options: {
  sourceDir: string | undefined;
  count: number;
  dim: number;
  summaryLimit?: number;
}): {
  records: BenchRecord[];
  summaries: SymbolSummary[];
  info: InputInfo;
} {
  const { summaries, filesRead } = collectSummaries(
    inputFiles(options.sourceDir),
    Math.max(options.count, options.summaryLimit ?? 0),
  );
  const embedder = new HashingEmbedder({ dimension: options.dim });
  const records = Array.from({ length: options.count }, (_, i) => recordAt(summaries, i, embedder));
  return {
    records,
    summaries,
    info: {
      source: options.sourceDir ?? 'typescript-lib',
      filesRead,
      available: summaries.length,
      produced: records.length,
      cycled: records.length > summaries.length,
    },
  };
}
