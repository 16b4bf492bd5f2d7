/**
 * Many crash trials over strategies × vector backends, with one real local Chroma server for the whole run,
 * aggregated into a JSON report and a one-line summary.
 *
 * @packageDocumentation
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalChroma, startLocalChroma } from '@dualwrite/chroma/local-server';
import { STRATEGY_NAMES, type StrategyName } from '@dualwrite/core';
import { planTrial, runCrashTrial, type TrialPlan, type TrialResult } from './crash-trial.js';
import type { RelationalBackendName, VectorBackendName } from './protocol.js';
import { trialDatabases } from './trial-databases.js';

/** Options of {@link runSoak}. */
export interface SoakOptions {
  /** Trials per strategy × vector backend. Trial `i` of a combination uses seed `seed + i`. */
  trials: number;
  strategies?: readonly StrategyName[];
  vectors?: readonly VectorBackendName[];
  /**
   * Source of truth of every trial: a SQLite file (default), or a fresh MySQL / MariaDB database or
   * PostgreSQL schema per trial on the test server (`DUALWRITE_TEST_MYSQL_URL`, `DUALWRITE_TEST_DATABASE_URL`;
   * default the CI's).
   */
  relational?: RelationalBackendName;
  /** Base seed. Default: derived from the clock (printed in the report). */
  seed?: number;
  /** Trials running at once. Default 1. */
  concurrency?: number;
  /** Parent directory of the trials' data. Default: a fresh temp dir. */
  workDir?: string;
  /** An existing Chroma server; default: start one with `startLocalChroma` for the run (if chroma is used). */
  chromaUrl?: string;
  /** Progress messages (one per finished trial). */
  log?: (message: string) => void;
}

/** Counters of one group of trials. */
export interface SoakCounters {
  trials: number;
  /** Trials whose writer was SIGKILLed (the others finished first and closed). */
  kills: number;
  /** Kills made by the fallback timer because the planned trigger had not fired (see `FALLBACK_KILL_MS`). */
  fallbackKills: number;
  /** Calls the writers saw acknowledged. */
  writesAcknowledged: number;
  /** Record changes in those calls. */
  changesAcknowledged: number;
  /** Calls that failed with a typed error (injected sync-2pc vector failures), checked as not applied. */
  failedCalls: number;
  /** sync-2pc intents abandoned by killed writers and rolled back by recovery. */
  abandonedIntents: number;
  /**
   * Trials where a flush right after the restart (before the abandoned intents' TTL) left the index unequal
   * to SQL — expected, documented sync-2pc behaviour; the final check runs after the TTL.
   */
  indexDiffBeforeIntentTtl: number;
  /** Trials with two sibling writer processes racing to insert the same new ids. */
  siblingRaces: number;
  /** Trials whose index (LanceDB table, Chroma collection) was dropped before recovery. */
  replacedIndexes: number;
  /** Trials whose recovery repaired a fault of the vector server itself (see `TrialResult.vendorFaults`). */
  vendorFaults: number;
  /**
   * Trials that ended with index rows = distinct ids = live records (checked after every trial; a trial
   * that does not is also a violation).
   */
  countsEqual: number;
  /** Broken guarantees (must be 0). */
  violations: number;
  /** Trials the harness could not run (must be 0). */
  errors: number;
}

/** The result of {@link runSoak}. */
export interface SoakReport extends SoakCounters {
  seed: number;
  trialsPerCombination: number;
  strategies: StrategyName[];
  vectors: VectorBackendName[];
  relational: RelationalBackendName;
  /** Per `strategy/vector`. */
  byCombination: Record<string, SoakCounters>;
  /** How many kills landed inside each phase (a kill can be inside several, e.g. `vector` and `vector-batch`). */
  killedDuring: Record<string, number>;
  /** Trials per fault profile and per kill trigger. */
  profiles: Record<string, number>;
  triggers: Record<string, number>;
  /** Every trial with a violation or an error, with what is needed to replay it. */
  failures: {
    seed: number;
    strategy: StrategyName;
    vector: VectorBackendName;
    plan: TrialPlan;
    violations: TrialResult['violations'];
    recoveryEvents: TrialResult['recoveryEvents'];
    error: string | undefined;
    keptDir: string | undefined;
    replay: string;
  }[];
  durationMs: number;
}

function emptyCounters(): SoakCounters {
  return {
    trials: 0,
    kills: 0,
    fallbackKills: 0,
    writesAcknowledged: 0,
    changesAcknowledged: 0,
    failedCalls: 0,
    abandonedIntents: 0,
    indexDiffBeforeIntentTtl: 0,
    siblingRaces: 0,
    replacedIndexes: 0,
    vendorFaults: 0,
    countsEqual: 0,
    violations: 0,
    errors: 0,
  };
}

function add(c: SoakCounters, r: TrialResult): void {
  c.trials++;
  if (r.killed) c.kills++;
  if (r.fallbackKill) c.fallbackKills++;
  c.writesAcknowledged += r.acks;
  c.changesAcknowledged += r.ackedChanges;
  c.failedCalls += Object.values(r.failedCalls).reduce((a, b) => a + b, 0);
  c.abandonedIntents += r.abandonedIntents;
  if ((r.indexDiffBeforeIntentTtl ?? 0) > 0) c.indexDiffBeforeIntentTtl++;
  if (r.plan.siblings > 0) c.siblingRaces++;
  if (r.plan.replaceIndex) c.replacedIndexes++;
  if (r.vendorFaults.length > 0) c.vendorFaults++;
  if (r.consistency && !r.violations.some((v) => v.kind === 'index-count' || v.kind === 'index-duplicate'))
    c.countsEqual++;
  c.violations += r.violations.length;
  if (r.error) c.errors++;
}

/** The command that replays one trial. */
export function replayCommand(
  seed: number,
  strategy: StrategyName,
  vector: VectorBackendName,
  relational: RelationalBackendName = 'sqlite',
): string {
  return (
    `pnpm --filter @dualwrite/reliability soak --trials 1 --seed ${seed} --strategies ${strategy} --vectors ${vector}` +
    (relational === 'sqlite' ? '' : ` --relational ${relational}`)
  );
}

/** Runs the trials (see {@link SoakOptions}) and aggregates them. Starts and stops Chroma when needed. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const started = Date.now();
  const strategies = [...(options.strategies ?? STRATEGY_NAMES)];
  const vectors = [...(options.vectors ?? ['lancedb', 'chroma'])] as VectorBackendName[];
  const seed = options.seed ?? Date.now() % 1_000_000;
  const relational = options.relational ?? 'sqlite';
  const databases = trialDatabases(relational);
  const ownsWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'dualwrite-soak-')));
  await mkdir(workDir, { recursive: true });
  let chroma: LocalChroma | undefined;
  let chromaUrl = options.chromaUrl;
  if (vectors.includes('chroma') && !chromaUrl) {
    chroma = await startLocalChroma({ timeoutMs: 60_000 });
    chromaUrl = chroma.url;
  }
  const report: SoakReport = {
    seed,
    trialsPerCombination: options.trials,
    strategies,
    vectors,
    relational,
    ...emptyCounters(),
    byCombination: {},
    killedDuring: {},
    profiles: {},
    triggers: {},
    failures: [],
    durationMs: 0,
  };
  const queue: TrialPlan[] = [];
  for (let i = 0; i < options.trials; i++)
    for (const strategy of strategies)
      for (const vector of vectors) queue.push(planTrial(seed + i, strategy, vector));
  const runOne = async (plan: TrialPlan) => {
    const r = await runCrashTrial(plan, { workDir, chromaUrl, databases });
    const key = `${plan.strategy}/${plan.vector}`;
    add(report, r);
    report.byCombination[key] ??= emptyCounters();
    add(report.byCombination[key], r);
    for (const p of r.killedDuring) report.killedDuring[p] = (report.killedDuring[p] ?? 0) + 1;
    if (r.killed && r.killedDuring.length === 0)
      report.killedDuring.between = (report.killedDuring.between ?? 0) + 1;
    report.profiles[plan.profile] = (report.profiles[plan.profile] ?? 0) + 1;
    const trig = plan.trigger.kind === 'phase' ? `phase:${plan.trigger.phase}` : plan.trigger.kind;
    report.triggers[trig] = (report.triggers[trig] ?? 0) + 1;
    if (r.violations.length > 0 || r.error)
      report.failures.push({
        seed: plan.seed,
        strategy: plan.strategy,
        vector: plan.vector,
        plan,
        violations: r.violations,
        recoveryEvents: r.recoveryEvents,
        error: r.error,
        keptDir: r.keptDir,
        replay: replayCommand(plan.seed, plan.strategy, plan.vector, relational),
      });
    options.log?.(
      `[soak] ${key} seed ${plan.seed} ${plan.profile}/${trig}: ${r.killed ? `${r.fallbackKill ? 'fallback-' : ''}killed during [${r.killedDuring.join(',') || 'between calls'}]` : 'finished unkilled'}, ${r.acks} acks, ${r.violations.length} violations${r.error ? `, ERROR ${r.error.split('\n')[0]}` : ''} (${r.durationMs} ms)`,
    );
  };
  try {
    const concurrency = Math.max(1, options.concurrency ?? 1);
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let plan = queue.shift(); plan; plan = queue.shift()) await runOne(plan);
      }),
    );
  } finally {
    await chroma?.stop();
    // Trials clean up after themselves unless they failed (their directories are kept for inspection).
    if (ownsWorkDir && report.failures.length === 0) await rm(workDir, { recursive: true, force: true });
  }
  report.durationMs = Date.now() - started;
  return report;
}

/** One line: trials, kills, writes acknowledged, violations. */
export function summaryLine(report: SoakReport): string {
  const where = Object.entries(report.killedDuring)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return (
    `soak seed ${report.seed}: ${report.trials} trials (${report.strategies.join('+')} × ${report.vectors.join('+')} on ${report.relational}), ` +
    `${report.kills} kills (${report.fallbackKills} by the fallback timer; in ${where}), ${report.writesAcknowledged} writes acknowledged ` +
    `(${report.changesAcknowledged} changes), ${report.failedCalls} typed call failures, ` +
    `${report.abandonedIntents} abandoned intents rolled back (${report.indexDiffBeforeIntentTtl} trials with the index ≠ SQL before the intent TTL), ` +
    `${report.siblingRaces} sibling-writer races, ${report.replacedIndexes} replaced indexes, ` +
    `${report.vendorFaults} vector-server faults repaired, ` +
    `index rows = distinct ids = live records in ${report.countsEqual} of ${report.trials} trials, ` +
    `${report.violations} violations, ` +
    `${report.errors} harness errors in ${(report.durationMs / 1000).toFixed(1)} s`
  );
}
