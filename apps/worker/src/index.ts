/**
 * `@dualwrite/worker`: a standalone process that runs only the dualwrite outbox drain loop against SQLite or
 * PostgreSQL and LanceDB or Chroma. The `dualwrite-worker` bin wraps {@link runCli}.
 * @packageDocumentation
 */
export { openBackends, openRelational, openVector, type WorkerBackends } from './backends.js';
export {
  describeConfig,
  EMBEDDER_KINDS,
  LOG_LEVELS,
  parseWorkerConfig,
  RELATIONAL_KINDS,
  VECTOR_KINDS,
  WORKER_STRATEGIES,
  type WorkerConfig,
  WorkerConfigError,
  workerCommand,
} from './config.js';
export { runCli } from './run-cli.js';
export { type RunningWorker, startWorker, type WorkerHooks } from './worker.js';
