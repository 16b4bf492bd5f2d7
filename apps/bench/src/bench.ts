import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRelationalBackend, createVectorBackend } from './backends/create-backends.js';
import type { VectorBackend } from './backends/vector-backends.js';
import { buildRecords } from './input/build-records.js';
import { createProgress } from './progress.js';
import { gitCommit, machineInfo, packageVersions } from './report/meta.js';
import { computeRatios, type RepeatRun } from './report/ratios.js';
import { summarizeRuns } from './report/summary.js';
import { renderTerminalRatios, renderTerminalTable, renderTerminalTargets } from './report/table.js';
import { checkTargets, inconsistentRuns } from './report/targets.js';
import type { BenchReport, TargetCheck } from './report/types.js';
import { type ReportPaths, writeReports } from './report/write-reports.js';
import { type BacklogResult, collectGarbage } from './runs/backlog.js';
import { runBacklogIsolated } from './runs/backlog-process.js';
import { runKind } from './runs/run-kind.js';
import type { BaselineRunName, RunName, RunResult, RunSettings, StrategyRunName } from './runs/types.js';

/** Everything one benchmark invocation is configured with (the CLI's parsed flags). */
export interface BenchOptions {
  records: number;
  batchSize: number;
  /** async-queue workers. */
  concurrency: number;
  dim: number;
  repeat: number;
  /** Vector backends, in run order (`lancedb`, `chroma`). */
  vectors: string[];
  /** Relational backend (`sqlite`). */
  relational: string;
  strategies: StrategyRunName[];
  baselines: BaselineRunName[];
  vectorLatencyMs: number;
  vectorFailureRate: number;
  /** Seed of the failure injection. */
  seed: number;
  /** Extract from this TS/JS tree instead of TypeScript's lib files. */
  source: string | undefined;
  /** Use this Chroma server instead of starting one. */
  chromaUrl: string | undefined;
  /** Output directory (absolute or relative to the process cwd). */
  out: string;
  /** Records of the opt-in backlog measurement (`undefined`: skip it). */
  backlog: number | undefined;
  backlogStrategies: ('async-queue' | 'batch')[];
  /** Show the progress bar and log lines (on stderr). */
  progress: boolean;
  /** Print the table, ratios and targets to stdout. */
  print: boolean;
}

/** A run that threw instead of producing a result. */
export interface RunFailure {
  repeat: number;
  name: string;
  vector: string;
  error: string;
}

/** What {@link runBench} produced. */
export interface BenchOutcome {
  report: BenchReport;
  paths: ReportPaths;
  targets: TargetCheck[];
  backlog: BacklogResult[];
  failures: RunFailure[];
  /** Runs whose verification found lost records or orphans. */
  inconsistent: RunResult[];
  durationMs: number;
}

interface PlannedRun {
  repeat: number;
  name: RunName;
  vector: VectorBackend | undefined;
}

/**
 * Runs the whole benchmark: builds the input (not timed), then for each repeat runs `sqlite-only` once
 * and, for each vector backend, each strategy and baseline on fresh storage; optionally the backlog
 * drain; then writes `latest.json` / `.md` / `.html` to `options.out` and returns the report.
 */
export async function runBench(options: BenchOptions): Promise<BenchOutcome> {
  const started = performance.now();
  const date = new Date().toISOString();
  const progress = createProgress(options.progress);
  const workDir = await mkdtemp(join(tmpdir(), 'dualwrite-bench-'));
  const vectors: VectorBackend[] = [];
  const stopOnSignal = () => {
    progress.stop();
    void Promise.allSettled(vectors.map((v) => v.shutdown())).finally(() => {
      rmSync(workDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    const relational = createRelationalBackend(options.relational, workDir);
    const needsVector = options.strategies.length > 0 || options.baselines.some((b) => b !== 'sqlite-only');
    const setupFailures: RunFailure[] = [];
    for (const name of needsVector || options.backlog ? options.vectors : []) {
      try {
        vectors.push(
          await createVectorBackend(name, { workDir, chromaUrl: options.chromaUrl, log: progress.log }),
        );
      } catch (error) {
        // One backend that cannot start (e.g. no Chroma server) should not cost the others' results.
        const message = error instanceof Error ? error.message : String(error);
        setupFailures.push({ repeat: 0, name: 'setup', vector: name, error: message });
        progress.log(`FAILED to set up ${name}: ${message}`);
      }
    }

    const input = buildRecords({
      sourceDir: options.source,
      count: options.records,
      dim: options.dim,
      summaryLimit: Math.max(options.records, options.backlog ?? 0),
    });
    const { records } = input;
    const notes = baseNotes(options);
    if (input.info.cycled)
      notes.unshift(
        `input cycled: only ${input.info.available} documented declarations in ${input.info.source}; ` +
          `records past them reuse them with ids suffixed #2, #3, ...`,
      );
    progress.log(
      `input: ${records.length} records from ${input.info.source} (${input.info.filesRead} files, ` +
        `${input.info.available} documented declarations used${input.info.cycled ? ', cycled' : ''}), dim ${options.dim}`,
    );

    const settings: RunSettings = {
      batchSize: options.batchSize,
      concurrency: options.concurrency,
      vectorLatencyMs: options.vectorLatencyMs,
      vectorFailureRate: options.vectorFailureRate,
      seed: options.seed,
      flushTimeoutMs: 600_000,
      maxCallerAttempts: 8,
    };
    const plan = planRuns(options, vectors);
    const backlogRuns = options.backlog ? vectors.length * options.backlogStrategies.length : 0;
    progress.start(plan.length * records.length + backlogRuns * (options.backlog ?? 0));

    const results: RepeatRun[] = [];
    const failures: RunFailure[] = [...setupFailures];
    const runNotes: string[] = [];
    const tag = `${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    for (const [i, p] of plan.entries()) {
      const vectorName = p.vector?.name ?? 'none';
      const label = `${p.name} · ${vectorName}${options.repeat > 1 ? ` · repeat ${p.repeat}` : ''}`;
      progress.setRun(label);
      collectGarbage();
      try {
        const outcome = await runKind(p.name, {
          runId: `dwb-${tag}-${i}-${vectorName}-${p.name}`,
          records,
          dimension: options.dim,
          settings,
          vector: p.vector,
          relational,
          workDir,
          onProgress: (n) => progress.advance(n),
        });
        results.push({ repeat: p.repeat, result: outcome.result });
        if (outcome.failedWrites > 0)
          runNotes.push(
            `${label}: ${outcome.failedWrites} writes failed after ${settings.maxCallerAttempts} attempts`,
          );
        for (const n of outcome.notes) runNotes.push(`${label}: ${n}`);
        const r = outcome.result;
        progress.log(
          `done ${label}: p50 ${r.callerLatencyMs.p50.toFixed(3)} ms, consistent after ${r.timeToConsistencyMs.toFixed(0)} ms, ` +
            `${r.vectorCalls} vector calls, lost ${r.lost}, orphans ${r.orphans}`,
        );
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failures.push({ repeat: p.repeat, name: p.name, vector: vectorName, error: message });
        progress.log(`FAILED ${label}: ${message}`);
        progress.advance(0);
      }
    }

    const backlog: BacklogResult[] = [];
    if (options.backlog) {
      for (const vector of vectors)
        for (const strategy of options.backlogStrategies) {
          const label = `backlog ${options.backlog} · ${strategy} · ${vector.name}`;
          progress.setRun(label);
          try {
            const b = await runBacklogIsolated(
              {
                runId: `dwb-${tag}-backlog-${vector.name}-${strategy}`,
                strategy,
                count: options.backlog,
                summaries: input.summaries,
                dimension: options.dim,
                settings,
                vector: vector.name,
                chromaUrl: vector.url,
                relational: relational.name,
                workDir,
              },
              (n) => progress.advance(n),
            );
            backlog.push(b);
            progress.log(
              `done ${label}: idle ${b.idleRssMb} MB, peak +${b.peakRssDeltaMb} MB, drained in ${b.drainMs.toFixed(0)} ms`,
            );
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            failures.push({ repeat: 0, name: `backlog-${strategy}`, vector: vector.name, error: message });
            progress.log(`FAILED ${label}: ${message}`);
          }
        }
    }
    progress.stop();

    const backendNames = vectors.map((v) => v.name);
    const runs = results.map((r) => r.result);
    const ratios = computeRatios(results, backendNames);
    const targets = checkTargets(results, backendNames);
    const durationMs = performance.now() - started;
    const allNotes = [...notes, ...runNotes];
    for (const f of failures)
      allNotes.push(`FAILED ${f.name} · ${f.vector} (repeat ${f.repeat}): ${f.error}`);
    const report: BenchReport = {
      meta: {
        date,
        durationMs: Math.round(durationMs),
        machine: machineInfo(),
        packages: packageVersions(),
        gitCommit: gitCommit() ?? null,
        args: argsForMeta(options),
        input: input.info,
        repeats: options.repeat,
        runOrder: 'for each repeat: sqlite-only, then for each vector backend: strategies, then baselines',
        ratioMethod: 'per repeat (runs of one repeat), then median over repeats',
        targets,
        backlog,
        failures,
        notes: allNotes,
      },
      runs,
      ratios,
    };
    const rows = summarizeRuns(runs);
    const paths = await writeReports(options.out, { report, rows, targets, backlog, notes: allNotes });
    if (options.print) {
      const out: string[] = [];
      out.push(renderTerminalTable(rows));
      out.push('', 'Ratios (median over repeats):', renderTerminalRatios(ratios));
      out.push('', 'Targets (measured by this benchmark):', renderTerminalTargets(targets));
      if (backlog.length > 0)
        out.push(
          '',
          'Backlog drain:',
          ...backlog.map(
            (b) =>
              `  ${b.vector} ${b.strategy}: ${b.records} records, idle ${b.idleRssMb} MB, peak ${b.peakRssMb} MB ` +
              `(+${b.peakRssDeltaMb} MB), drained in ${b.drainMs.toFixed(0)} ms, lost ${b.lost}, orphans ${b.orphans} — target ${b.target}`,
          ),
        );
      if (allNotes.length > 0) out.push('', 'Notes:', ...allNotes.map((n) => `  - ${n}`));
      out.push(
        '',
        `Wrote ${paths.json}, ${paths.markdown}, ${paths.html} (${(durationMs / 1000).toFixed(1)} s)`,
      );
      process.stdout.write(`${out.join('\n')}\n`);
    }
    return {
      report,
      paths,
      targets,
      backlog,
      failures,
      inconsistent: inconsistentRuns(runs),
      durationMs,
    };
  } finally {
    progress.stop();
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    await Promise.allSettled(vectors.map((v) => v.shutdown()));
    await rm(workDir, { recursive: true, force: true });
  }
}

/** The run order: per repeat, `sqlite-only` once, then every other run kind per vector backend. */
function planRuns(options: BenchOptions, vectors: readonly VectorBackend[]): PlannedRun[] {
  const plan: PlannedRun[] = [];
  const perBackend: RunName[] = [
    ...options.strategies,
    ...options.baselines.filter((b) => b !== 'sqlite-only'),
  ];
  for (let repeat = 1; repeat <= options.repeat; repeat++) {
    if (options.baselines.includes('sqlite-only'))
      plan.push({ repeat, name: 'sqlite-only', vector: undefined });
    for (const vector of vectors) for (const name of perBackend) plan.push({ repeat, name, vector });
  }
  return plan;
}

function baseNotes(options: BenchOptions): string[] {
  const has = (name: BaselineRunName) => options.baselines.includes(name);
  const notes: string[] = [];
  if (has('vector-raw-single') || has('vector-raw-bulk'))
    notes.push(
      'vector-raw-single / vector-raw-bulk write through our own VectorStore adapter without outbox or SQL ("raw client" = the thin adapter).',
    );
  if (has('vector-raw-bulk'))
    notes.push(
      `vector-raw-bulk caller latency is per bulk call of ${options.batchSize} records; the other runs' is per record.`,
    );
  if (has('sqlite-only'))
    notes.push(
      "sqlite-only (better-sqlite3, one autocommit insert per record, no outbox) runs once per repeat and serves every backend's ratios.",
    );
  if (options.strategies.length > 0 || options.baselines.length > 0)
    notes.push(
      'lost = live records not indexed at their current version (stale included); orphans = indexed ids with no live record.',
    );
  if (options.vectorLatencyMs > 0)
    notes.push(`every vector call was delayed by ${options.vectorLatencyMs} ms.`);
  if (options.vectorFailureRate > 0)
    notes.push(
      `vector write calls failed with TransientBackendError with probability ${options.vectorFailureRate} ` +
        `(seed ${options.seed}); callers of sync-2pc and the baselines retry at once (up to 8 attempts), ` +
        'async-queue and batch retry in the background with backoff.',
    );
  return notes;
}

function argsForMeta(o: BenchOptions): Record<string, unknown> {
  return {
    records: o.records,
    batchSize: o.batchSize,
    concurrency: o.concurrency,
    dim: o.dim,
    repeat: o.repeat,
    vector: o.vectors,
    relational: o.relational,
    strategies: o.strategies,
    baselines: o.baselines,
    vectorLatencyMs: o.vectorLatencyMs,
    vectorFailureRate: o.vectorFailureRate,
    seed: o.seed,
    source: o.source ?? null,
    chromaUrl: o.chromaUrl ?? null,
    out: o.out,
    backlog: o.backlog ?? null,
    backlogStrategies: o.backlogStrategies,
  };
}
