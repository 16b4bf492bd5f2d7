import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRelationalBackend, createVectorBackend } from './backends/create-backends.js';
import { maskPassword } from './backends/database-url.js';
import type { RelationalBackend } from './backends/relational-backends.js';
import type { VectorBackend } from './backends/vector-backends.js';
import { buildRecords } from './input/build-records.js';
import { createProgress } from './progress.js';
import { describeFault, findMeasurementFaults } from './report/measurement-faults.js';
import { gitCommit, machineInfo, packageVersions } from './report/meta.js';
import { computeRatios, type RepeatRun, ratioGroups } from './report/ratios.js';
import { summarizeRuns } from './report/summary.js';
import {
  renderTerminalDrainScaling,
  renderTerminalRatios,
  renderTerminalTable,
  renderTerminalTargets,
} from './report/table.js';
import { checkDrainTargets, checkTargets, inconsistentRuns } from './report/targets.js';
import type { BenchReport, TargetCheck } from './report/types.js';
import { type ReportPaths, writeReports } from './report/write-reports.js';
import { type BacklogResult, collectGarbage } from './runs/backlog.js';
import { runBacklogIsolated } from './runs/backlog-process.js';
import { type DrainScalingResult, runDrainScaling, withSpeedups } from './runs/drain-scaling.js';
import { runKind } from './runs/run-kind.js';
import {
  type BaselineRunName,
  isRelationalBaseline,
  isRelationalOnly,
  type RunName,
  type RunResult,
  type RunSettings,
  relationalOnlyRun,
  type StrategyRunName,
} from './runs/types.js';

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
  /** Relational backends, in run order (`sqlite`, `postgres`). */
  relationals: string[];
  /** PostgreSQL server for `postgres` (each run uses a fresh schema, dropped afterwards). */
  databaseUrl: string;
  /** MySQL / MariaDB server for `mysql` (each run uses a fresh database, dropped afterwards). */
  mysqlUrl: string;
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
  /** Worker process counts of the opt-in drain-scaling measurement (postgres only; empty: skip it). */
  drainWorkers: number[];
  /** Records written before each drain-scaling measurement. */
  drainRecords: number;
  /**
   * Run each drain-scaling measurement a second time with a REPEATABLE READ transaction held open on another
   * connection, and report the throughput ratio. Default `false`.
   */
  drainHeldSnapshot?: boolean;
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
  /** Relational backend of the run (`none` for vector-raw-* and vector backend set-up). */
  relational: string;
  error: string;
}

/** What {@link runBench} produced. */
export interface BenchOutcome {
  report: BenchReport;
  paths: ReportPaths;
  targets: TargetCheck[];
  backlog: BacklogResult[];
  drainScaling: DrainScalingResult[];
  failures: RunFailure[];
  /** Runs whose verification found lost records or orphans. */
  inconsistent: RunResult[];
  durationMs: number;
}

interface PlannedRun {
  repeat: number;
  name: RunName;
  vector: VectorBackend | undefined;
  /** `undefined` for vector-raw-* (no relational side). */
  relational: RelationalBackend | undefined;
}

/**
 * Runs the whole benchmark: builds the input (not timed), then for each repeat runs each relational
 * backend's `<relational>-only` baseline once and, for each vector backend, each strategy (per
 * relational backend) and baseline on fresh storage; optionally the backlog drain and the drain scaling
 * with K worker processes; then writes `latest.json` / `.md` / `.html` to `options.out` and returns the
 * report.
 */
export async function runBench(options: BenchOptions): Promise<BenchOutcome> {
  const started = performance.now();
  const date = new Date().toISOString();
  const progress = createProgress(options.progress);
  const workDir = await mkdtemp(join(tmpdir(), 'dualwrite-bench-'));
  const vectors: VectorBackend[] = [];
  const relationals: RelationalBackend[] = [];
  const stopOnSignal = () => {
    progress.stop();
    void Promise.allSettled([
      ...vectors.map((v) => v.shutdown()),
      ...relationals.map((r) => r.shutdown()),
    ]).finally(() => {
      rmSync(workDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    const setupFailures: RunFailure[] = [];
    for (const name of options.relationals) {
      try {
        relationals.push(
          await createRelationalBackend(name, {
            workDir,
            databaseUrl: options.databaseUrl,
            mysqlUrl: options.mysqlUrl,
          }),
        );
      } catch (error) {
        // PostgreSQL not reachable should not cost the SQLite results.
        const message = error instanceof Error ? error.message : String(error);
        setupFailures.push({ repeat: 0, name: 'setup', vector: 'none', relational: name, error: message });
        progress.log(`FAILED to set up ${name}: ${message}`);
      }
    }
    const needsVector =
      options.strategies.length > 0 ||
      options.baselines.some((b) => !isRelationalBaseline(b)) ||
      options.backlog !== undefined ||
      options.drainWorkers.length > 0;
    for (const name of needsVector ? options.vectors : []) {
      try {
        vectors.push(
          await createVectorBackend(name, { workDir, chromaUrl: options.chromaUrl, log: progress.log }),
        );
      } catch (error) {
        // One backend that cannot start (e.g. no Chroma server) should not cost the others' results.
        const message = error instanceof Error ? error.message : String(error);
        setupFailures.push({ repeat: 0, name: 'setup', vector: name, relational: 'none', error: message });
        progress.log(`FAILED to set up ${name}: ${message}`);
      }
    }

    const input = buildRecords({
      sourceDir: options.source,
      count: options.records,
      dim: options.dim,
      summaryLimit: Math.max(
        options.records,
        options.backlog ?? 0,
        options.drainWorkers.length > 0 ? options.drainRecords : 0,
      ),
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
    const plan = planRuns(options, vectors, relationals);
    const backlogRuns = options.backlog
      ? vectors.length * relationals.length * options.backlogStrategies.length
      : 0;
    const drainPostgres = relationals.find((r) => r.name === 'postgres');
    const drainRuns = drainPostgres ? vectors.length * options.drainWorkers.length : 0;
    progress.start(
      plan.length * records.length +
        backlogRuns * (options.backlog ?? 0) +
        drainRuns * 2 * options.drainRecords * (options.drainHeldSnapshot ? 2 : 1),
    );

    const results: RepeatRun[] = [];
    const failures: RunFailure[] = [...setupFailures];
    const runNotes: string[] = [];
    const tag = `${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const multiRelational = relationals.length > 1;
    for (const [i, p] of plan.entries()) {
      const vectorName = p.vector?.name ?? 'none';
      const relationalName = p.relational?.name ?? 'none';
      const label =
        `${p.name} · ${vectorName}` +
        `${multiRelational && p.relational && !isRelationalOnly(p.name) ? ` · ${relationalName}` : ''}` +
        `${options.repeat > 1 ? ` · repeat ${p.repeat}` : ''}`;
      progress.setRun(label);
      collectGarbage();
      try {
        const outcome = await runKind(p.name, {
          runId: `dwb-${tag}-${i}-${vectorName}-${relationalName}-${p.name}`,
          records,
          dimension: options.dim,
          settings,
          vector: p.vector,
          relational: p.relational ?? relationals[0]!,
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
        failures.push({
          repeat: p.repeat,
          name: p.name,
          vector: vectorName,
          relational: relationalName,
          error: message,
        });
        progress.log(`FAILED ${label}: ${message}`);
        progress.advance(0);
      }
    }

    const backlog: BacklogResult[] = [];
    if (options.backlog) {
      for (const relational of relationals)
        for (const vector of vectors)
          for (const strategy of options.backlogStrategies) {
            const label = `backlog ${options.backlog} · ${strategy} · ${vector.name} · ${relational.name}`;
            progress.setRun(label);
            try {
              const b = await runBacklogIsolated(
                {
                  runId: `dwb-${tag}-backlog-${vector.name}-${relational.name}-${strategy}`,
                  strategy,
                  count: options.backlog,
                  summaries: input.summaries,
                  dimension: options.dim,
                  settings,
                  vector: vector.name,
                  chromaUrl: vector.url,
                  relational: relational.name,
                  databaseUrl: options.databaseUrl,
                  mysqlUrl: options.mysqlUrl,
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
              failures.push({
                repeat: 0,
                name: `backlog-${strategy}`,
                vector: vector.name,
                relational: relational.name,
                error: message,
              });
              progress.log(`FAILED ${label}: ${message}`);
            }
          }
    }

    const drainResults: DrainScalingResult[] = [];
    if (drainPostgres)
      for (const vector of vectors)
        for (const workers of options.drainWorkers) {
          const label = `drain ${options.drainRecords} · ${workers} worker${workers === 1 ? '' : 's'} · ${vector.name} · postgres${options.drainHeldSnapshot ? ' (+ held snapshot)' : ''}`;
          progress.setRun(label);
          collectGarbage();
          try {
            const d = await runDrainScaling({
              runId: `dwb-${tag}-drain-${vector.name}-${workers}`,
              workers,
              count: options.drainRecords,
              summaries: input.summaries,
              dimension: options.dim,
              batchSize: options.batchSize,
              timeoutMs: settings.flushTimeoutMs,
              vector,
              relational: drainPostgres,
              heldSnapshot: options.drainHeldSnapshot === true,
              onProgress: (n) => progress.advance(n),
              log: progress.log,
            });
            drainResults.push(d);
            if (d.lost > 0 || d.orphans > 0)
              failures.push({
                repeat: 0,
                name: `drain-workers-${workers}`,
                vector: vector.name,
                relational: 'postgres',
                error: `verification failed: lost ${d.lost}, orphans ${d.orphans}`,
              });
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            failures.push({
              repeat: 0,
              name: `drain-workers-${workers}`,
              vector: vector.name,
              relational: 'postgres',
              error: message,
            });
            progress.log(`FAILED ${label}: ${message}`);
          }
        }
    const drainScaling = withSpeedups(drainResults);
    progress.stop();

    const groups = ratioGroups(
      vectors.map((v) => v.name),
      relationals.map((r) => r.name),
    );
    const runs = results.map((r) => r.result);
    const ratios = computeRatios(results, groups);
    // Without strategy or baseline runs every ratio target would be n/a: only the drain targets then.
    const targets = [
      ...(results.length > 0 ? checkTargets(results, groups) : []),
      ...checkDrainTargets(drainScaling),
    ];
    const measurementFaults = findMeasurementFaults(results, groups);
    const durationMs = performance.now() - started;
    const allNotes = [...measurementFaults.map(describeFault), ...notes, ...runNotes];
    if (drainScaling.length > 0) allNotes.push(...drainNotes(options, drainScaling));
    for (const f of failures)
      allNotes.push(
        `FAILED ${f.name} · ${f.vector}${f.relational === 'none' ? '' : ` · ${f.relational}`} (repeat ${f.repeat}): ${f.error}`,
      );
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
        runOrder:
          'for each repeat: <relational>-only and raw-outbox-tx per relational backend, then for each vector backend: ' +
          'strategies per relational backend, vector-raw-single, vector-raw-bulk, naive-dual-write per relational ' +
          'backend (in reverse on even repeats)',
        ratioMethod: 'per repeat (runs of one repeat), then median over repeats',
        ratioKeys:
          'ratios are keyed by vector backend for SQLite (e.g. "lancedb") and "<vector>+<relational>" otherwise ' +
          '(e.g. "lancedb+postgres"); every key has the same fields, and in a "+postgres" group "SqliteOnly" / ' +
          '"sqlite-only" means postgres-only (the relational-only baseline of that group). vector-raw-* runs are ' +
          'shared by every relational backend of their vector backend.',
        targets,
        measurementFaults,
        backlog,
        drainScaling,
        failures,
        notes: allNotes,
      },
      runs,
      ratios,
    };
    const rows = summarizeRuns(runs);
    const view = { report, rows, targets, backlog, drainScaling, notes: allNotes };
    const paths = await writeReports(options.out, view);
    if (options.print) {
      const out: string[] = [];
      if (rows.length > 0) {
        out.push(renderTerminalTable(rows));
        out.push('', 'Ratios (median over repeats):', renderTerminalRatios(ratios));
      } else out.push('No strategy or baseline runs (--strategies none --baselines none).');
      if (targets.length > 0)
        out.push('', 'Targets (measured by this benchmark):', renderTerminalTargets(targets));
      if (backlog.length > 0)
        out.push(
          '',
          'Backlog drain:',
          ...backlog.map(
            (b) =>
              `  ${b.vector} ${b.relational} ${b.strategy}: ${b.records} records, idle ${b.idleRssMb} MB, peak ${b.peakRssMb} MB ` +
              `(+${b.peakRssDeltaMb} MB), drained in ${b.drainMs.toFixed(0)} ms, lost ${b.lost}, orphans ${b.orphans} — target ${b.target}`,
          ),
        );
      if (drainScaling.length > 0)
        out.push(
          '',
          `Drain scaling (K worker processes, one PostgreSQL outbox; ${machineInfo().cores} CPU cores shared by everything):`,
          renderTerminalDrainScaling(drainScaling),
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
      drainScaling,
      failures,
      inconsistent: inconsistentRuns(runs),
      durationMs,
    };
  } finally {
    progress.stop();
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    await Promise.allSettled([...vectors.map((v) => v.shutdown()), ...relationals.map((r) => r.shutdown())]);
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * The run order, per repeat: each relational backend's `<relational>-only` and `raw-outbox-tx` once, then
 * per vector backend the strategies on each relational backend, `vector-raw-*` once, and
 * `naive-dual-write` on each relational backend. Even repeats run each vector backend's list in reverse,
 * so a run compared with another (sync-2pc with vector-raw-single) is not always the earlier one in a
 * long-lived process; the two relational baselines swap places likewise. With only SQLite and one repeat
 * this is the order the benchmark always had.
 */
function planRuns(
  options: BenchOptions,
  vectors: readonly VectorBackend[],
  relationals: readonly RelationalBackend[],
): PlannedRun[] {
  const plan: PlannedRun[] = [];
  for (let repeat = 1; repeat <= options.repeat; repeat++) {
    for (const relational of relationals) {
      const names = [relationalOnlyRun(relational.name), 'raw-outbox-tx'] as const;
      for (const name of repeat % 2 === 0 ? [...names].reverse() : names)
        if (options.baselines.includes(name)) plan.push({ repeat, name, vector: undefined, relational });
    }
    for (const vector of vectors) {
      const runs: PlannedRun[] = [];
      for (const relational of relationals)
        for (const name of options.strategies) runs.push({ repeat, name, vector, relational });
      for (const name of options.baselines) {
        if (isRelationalBaseline(name)) continue;
        if (name === 'naive-dual-write')
          for (const relational of relationals) runs.push({ repeat, name, vector, relational });
        else runs.push({ repeat, name, vector, relational: undefined });
      }
      plan.push(...(repeat % 2 === 0 ? runs.reverse() : runs));
    }
  }
  return plan;
}

/** Notes on the drain-scaling measurement: what was timed, and how many cores everything shared. */
function drainNotes(options: BenchOptions, results: readonly DrainScalingResult[]): string[] {
  const cores = availableParallelism();
  const maxK = Math.max(...results.map((r) => r.workers));
  const notes = [
    `drain scaling: ${options.drainRecords} records written through a paused facade (outbox filled, nothing ` +
      'delivered), then K dualwrite-worker processes (@dualwrite/worker startWorker, batch strategy, ' +
      `--batch-size ${options.batchSize}, 1 drain loop and a pool of 2 connections each) started and paused themselves; drain time runs ` +
      'from resuming all K at once until the last acknowledgement (outbox empty), then verifyConsistency. ' +
      'Process start-up (tsx compiling the sources) is reported separately and not in the drain time. ' +
      'One measurement per K (not repeated by --repeat).',
    ...(options.drainHeldSnapshot
      ? [
          'drain scaling with a held snapshot (--drain-held-snapshot): each K also ran on a fresh schema and vector ' +
            'store while another connection held BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM ' +
            '<outbox> open from before the resume until the outbox was empty (then ROLLBACK): the snapshot keeps ' +
            'every outbox row acknowledged meanwhile from being vacuumed or pruned, so claims skip more and more ' +
            'dead rows. "held RR rec/s" is that drain\'s throughput, "held RR ratio" it over the plain drain\'s.',
        ]
      : []),
    `drain scaling ran on ${cores} CPU core${cores === 1 ? '' : 's'} shared by the K workers, PostgreSQL, ` +
      `${results[0]?.vector ?? 'the vector store'} and the benchmark process itself` +
      (maxK > cores
        ? `: with K > ${cores} the workers compete for the same cores, so the speed-up says little about ` +
          'workers on their own cores or machines.'
        : '; speed-up on dedicated cores or machines can differ.'),
  ];
  if (results.some((r) => r.vector === 'lancedb') && maxK > 1)
    notes.push(
      'drain scaling with lancedb: all workers commit to one embedded LanceDB table (optimistic commits, ' +
        'retried on conflict), so concurrent vector writes also contend there.',
    );
  return notes;
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
  const relational = new Set(options.relationals);
  if (has('sqlite-only') && relational.has('sqlite'))
    notes.push(
      "sqlite-only (better-sqlite3, one autocommit insert per record, no outbox) runs once per repeat and serves every backend's ratios.",
    );
  if (has('postgres-only') && relational.has('postgres'))
    notes.push(
      'postgres-only (node-postgres directly, one prepared autocommit INSERT per record, no outbox) runs once per repeat ' +
        'and serves the "<vector>+postgres" ratios.',
    );
  if (has('mysql-only') && relational.has('mysql'))
    notes.push(
      'mysql-only (mysql2 directly, one autocommit INSERT … ON DUPLICATE KEY UPDATE per record, no outbox) runs once per ' +
        'repeat and serves the "<vector>+mysql" ratios; mysql runs use a fresh database per run on the server.',
    );
  if (has('raw-outbox-tx'))
    notes.push(
      'raw-outbox-tx (the floor of a durable put: the record row and an outbox row committed together with the ' +
        "backend's own client — SQLite BEGIN IMMEDIATE + two prepared inserts + COMMIT, PostgreSQL one CTE " +
        'statement, MySQL one multi-statement message — no locks, no version sequence) runs once per repeat and ' +
        'relational backend; the caller targets hold the strategies to it.',
    );
  if (relational.has('postgres'))
    notes.push(
      'postgres runs: every run uses a fresh schema on the server (dropped afterwards); ratios for them are keyed ' +
        '"<vector>+postgres" with the same fields, where "SqliteOnly" means postgres-only. The server may be shared ' +
        'with other work on this machine.',
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
    relational: o.relationals,
    databaseUrl: o.relationals.includes('postgres') ? maskPassword(o.databaseUrl) : null,
    mysqlUrl: o.relationals.includes('mysql') ? maskPassword(o.mysqlUrl) : null,
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
    drainWorkers: o.drainWorkers,
    drainRecords: o.drainWorkers.length > 0 ? o.drainRecords : null,
    drainHeldSnapshot: o.drainHeldSnapshot === true,
  };
}
