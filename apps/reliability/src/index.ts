/**
 * `@dualwrite/reliability`: the harness behind the reliability suite — crash trials with SIGKILLed writer
 * processes, soaks over strategies × vector backends, fault-injecting wrappers around real stores, and the
 * checks that nothing acknowledged was lost.
 *
 * @packageDocumentation
 */
export {
  type FaultyDualWrite,
  type FaultyDualWriteOptions,
  openFaultyDualWrite,
  openVectorStore,
  SUITE_DELIVERY,
  strategyConfig,
} from './backends.js';
export { entryPath, type SpawnChildOptions, type SuiteChild, spawnChild } from './child.js';
export {
  FALLBACK_KILL_MS,
  type FaultProfile,
  type KillTrigger,
  planTrial,
  runCrashTrial,
  type TrialEnvironment,
  type TrialPlan,
  type TrialResult,
} from './crash-trial.js';
export {
  AsyncLock,
  DelayedRelationalStore,
  type DelayedRelationalStoreOptions,
  type DelaySpec,
} from './delayed-relational-store.js';
export {
  checkLastWriterWins,
  checkSingleWriter,
  type IdState,
  liveRecords,
  opIds,
  opPuts,
  type Violation,
  WriterLedger,
} from './ledger.js';
export { type CallInterval, findOverlaps, type Overlap } from './overlap.js';
export type * from './protocol.js';
export { createRng, deriveSeed, type Rng } from './random.js';
export {
  replayCommand,
  runSoak,
  type SoakCounters,
  type SoakOptions,
  type SoakReport,
  summaryLine,
} from './soak.js';
export {
  monotonicMicros,
  type TracedCall,
  TracingVectorStore,
  type TracingVectorStoreOptions,
} from './tracing-vector-store.js';
export {
  createWorkload,
  type WorkloadOp,
  type WorkloadOptions,
  type WorkloadRecord,
  workloadId,
} from './workload.js';
