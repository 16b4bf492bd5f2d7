/**
 * `@dualwrite/bench`: the benchmark as a library (the CLI is `src/cli.ts`).
 * @packageDocumentation
 */
export { parseArgs } from './args.js';
export { type BenchOptions, type BenchOutcome, type RunFailure, runBench } from './bench.js';
export { type BenchRecord, buildRecords, type InputInfo } from './input/build-records.js';
export { extractSummariesFromText, type SymbolSummary } from './input/extract-summaries.js';
export { type LatencySummary, percentile, summarizeLatencies } from './measure/percentiles.js';
export type { BackendRatios, BenchReport, TargetCheck } from './report/types.js';
export type { RunResult } from './runs/types.js';
