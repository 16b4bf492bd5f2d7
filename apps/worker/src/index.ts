/**
 * `@dualwrite/worker`: a standalone process that runs only the dualwrite outbox drain loop against SQLite,
 * PostgreSQL or MySQL / MariaDB and LanceDB or Chroma, and the `dualwrite` operator CLI. Configuration and backends come from
 * `@dualwrite/config` (the same settings as every dualwrite process). The `dualwrite-worker` bin wraps
 * {@link runCli}.
 * @packageDocumentation
 */
export {
  parseWorkerConfig,
  WORKER_SETTINGS,
  WORKER_STRATEGIES,
  type WorkerConfig,
  WorkerConfigError,
  type WorkerConfigPurpose,
  WorkerConfigSchema,
  workerCommand,
} from './config.js';
export { runCli } from './run-cli.js';
export { type RunningWorker, startWorker, type WorkerHooks } from './worker.js';
