import { isAbsolute, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { RELATIONAL_BACKENDS, VECTOR_BACKENDS } from './backends/create-backends.js';
import { DEFAULT_DATABASE_URL, DEFAULT_MYSQL_URL } from './backends/database-url.js';
import type { BenchOptions } from './bench.js';
import { BASELINE_RUNS, type BaselineRunName, STRATEGY_RUNS, type StrategyRunName } from './runs/types.js';

/** Most worker processes one `--drain-workers` measurement may start (3 connections each). */
const MAX_DRAIN_WORKERS = 16;

/** Raw option values as commander parses them. */
interface RawOptions {
  records: number;
  batchSize: number;
  concurrency: number;
  dim: number;
  repeat: number;
  vector: string[];
  relational: string[];
  databaseUrl: string;
  mysqlUrl: string;
  strategies: string[];
  baselines: string[];
  vectorLatencyMs: number;
  vectorFailureRate: number;
  seed: number;
  source?: string;
  chromaUrl?: string;
  out: string;
  backlog?: number;
  backlogStrategies: string[];
  drainWorkers?: number[];
  drainRecords?: number;
  drainHeldSnapshot?: boolean;
  progress: boolean;
}

/** The benchmark's command line (commander). */
export function createProgram(): Command {
  return new Command('dualwrite-bench')
    .description(
      'What does each dualwrite write strategy cost on my backends, and what do I get for it? ' +
        'Runs sync-2pc, async-queue and batch against baselines on fresh storage and writes ' +
        '<out>/latest.{json,md,html}.',
    )
    .option('--records <n>', 'records written per run', positiveInt, 1000)
    .option('--batch-size <n>', 'batch strategy maxBatchSize and vector-raw-bulk call size', positiveInt, 100)
    .option('--concurrency <n>', 'async-queue background workers', positiveInt, 4)
    .option('--dim <n>', 'embedding dimension (HashingEmbedder)', positiveInt, 384)
    .option('--repeat <k>', 'repeat every run k times, interleaved', positiveInt, 1)
    .option(
      '--vector <list>',
      `vector backends, comma-separated (${VECTOR_BACKENDS.join(', ')})`,
      list(VECTOR_BACKENDS),
      ['lancedb'],
    )
    .option(
      '--relational <list>',
      `relational backends (source of truth), comma-separated (${RELATIONAL_BACKENDS.join(', ')})`,
      list(RELATIONAL_BACKENDS),
      ['sqlite'],
    )
    .addOption(
      new Option(
        '--database-url <url>',
        'PostgreSQL server for --relational postgres (a fresh schema per run)',
      )
        .env('DATABASE_URL')
        .default(DEFAULT_DATABASE_URL),
    )
    .option(
      '--mysql-url <url>',
      'MySQL / MariaDB server for --relational mysql (a fresh database per run)',
      DEFAULT_MYSQL_URL,
    )
    .option(
      '--strategies <list>',
      `strategies, comma-separated (${STRATEGY_RUNS.join(', ')}) or "none"`,
      list(STRATEGY_RUNS),
      [...STRATEGY_RUNS],
    )
    .option(
      '--baselines <list>',
      `baselines, comma-separated (${BASELINE_RUNS.join(', ')}) or "none"`,
      list(BASELINE_RUNS),
      [...BASELINE_RUNS],
    )
    .option('--vector-latency-ms <ms>', 'added to every vector store call', nonNegative, 0)
    .option(
      '--vector-failure-rate <p>',
      'probability that a vector write call fails transiently',
      probability,
      0,
    )
    .option('--seed <n>', 'seed of the failure injection', int, 42)
    .option('--source <dir>', "extract summaries from this TS/JS codebase instead of TypeScript's lib.*.d.ts")
    .addOption(
      new Option('--chroma-url <url>', 'use this Chroma server instead of starting one').env('CHROMA_URL'),
    )
    .option('--out <dir>', 'output directory', 'bench-results')
    .option('--backlog <n>', 'also measure draining an n-record backlog (opt-in)', positiveInt)
    .option(
      '--backlog-strategies <list>',
      'strategies for --backlog (async-queue, batch)',
      list(['async-queue', 'batch']),
      ['batch'],
    )
    .option(
      '--drain-workers <list>',
      'also measure draining one PostgreSQL outbox with K worker processes, for each K of this ' +
        'comma-separated list, e.g. 1,2,4 (opt-in; needs --relational postgres)',
      intList,
    )
    .option(
      '--drain-records <n>',
      'records per --drain-workers measurement (default: --records)',
      positiveInt,
    )
    .option(
      '--drain-held-snapshot',
      'with --drain-workers: run each drain a second time while another connection holds a REPEATABLE READ ' +
        'transaction open, and report the throughput ratio (target >= 0.65)',
    )
    .option('--no-progress', 'no progress bar or log lines')
    .showHelpAfterError();
}

/**
 * Parses CLI arguments (without `node` and the script) into {@link BenchOptions}. Relative `--out` and
 * `--source` paths are resolved against `baseDir` (the directory `pnpm bench` was started from).
 * A leading `--` (as `pnpm run bench -- ...` may pass) is ignored.
 */
export function parseArgs(argv: readonly string[], baseDir: string = invocationDir()): BenchOptions {
  const args = argv[0] === '--' ? argv.slice(1) : [...argv];
  const program = createProgram();
  program.parse(args, { from: 'user' });
  const o = program.opts<RawOptions>();
  if (o.relational.length === 0) program.error('error: --relational must name at least one backend');
  const drainWorkers = o.drainWorkers ?? [];
  if (drainWorkers.length > 0 && !o.relational.includes('postgres'))
    program.error(
      'error: --drain-workers needs --relational postgres (the drain-scaling measurement runs on PostgreSQL only)',
    );
  if (drainWorkers.some((k) => k > MAX_DRAIN_WORKERS))
    program.error(`error: --drain-workers: at most ${MAX_DRAIN_WORKERS} worker processes`);
  if (o.drainRecords !== undefined && drainWorkers.length === 0)
    program.error('error: --drain-records only applies with --drain-workers');
  if (o.drainHeldSnapshot && drainWorkers.length === 0)
    program.error('error: --drain-held-snapshot only applies with --drain-workers');
  return {
    records: o.records,
    batchSize: o.batchSize,
    concurrency: o.concurrency,
    dim: o.dim,
    repeat: o.repeat,
    vectors: o.vector,
    relationals: o.relational,
    databaseUrl: o.databaseUrl,
    mysqlUrl: o.mysqlUrl,
    strategies: o.strategies as StrategyRunName[],
    baselines: o.baselines as BaselineRunName[],
    vectorLatencyMs: o.vectorLatencyMs,
    vectorFailureRate: o.vectorFailureRate,
    seed: o.seed,
    source: o.source === undefined ? undefined : absolute(o.source, baseDir),
    chromaUrl: o.chromaUrl || undefined,
    out: absolute(o.out, baseDir),
    backlog: o.backlog,
    backlogStrategies: o.backlogStrategies as ('async-queue' | 'batch')[],
    drainWorkers,
    drainRecords: o.drainRecords ?? o.records,
    drainHeldSnapshot: o.drainHeldSnapshot === true,
    progress: o.progress,
    print: true,
  };
}

/** Where the user started the command: pnpm's `INIT_CWD` when run through `pnpm bench`, else the cwd. */
export function invocationDir(): string {
  return process.env.INIT_CWD || process.cwd();
}

function absolute(path: string, base: string): string {
  return isAbsolute(path) ? path : resolve(base, path);
}

function int(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('must be an integer');
  return n;
}

function positiveInt(value: string): number {
  const n = int(value);
  if (n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number >= 0');
  return n;
}

function probability(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be a number in 0..1');
  return n;
}

/** A comma-separated list of positive integers (duplicates dropped, sorted ascending). */
function intList(value: string): number[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(positiveInt);
  if (items.length === 0) throw new InvalidArgumentError('must name at least one number');
  return [...new Set(items)].sort((a, b) => a - b);
}

/** A comma-separated list of names from `allowed` (duplicates dropped, order kept; `none` = empty). */
function list(allowed: readonly string[]): (value: string) => string[] {
  return (value) => {
    if (value.trim() === 'none') return [];
    const items = [
      ...new Set(
        value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      ),
    ];
    const bad = items.filter((i) => !allowed.includes(i));
    if (bad.length > 0)
      throw new InvalidArgumentError(`unknown: ${bad.join(', ')} (expected: ${allowed.join(', ')})`);
    if (items.length === 0) throw new InvalidArgumentError('must name at least one (or "none")');
    return items;
  };
}
