import pino, { type Logger } from 'pino';
import { parseWorkerConfig, WorkerConfigError } from './config.js';
import { startWorker, type WorkerHooks } from './worker.js';

/**
 * Runs the worker until SIGTERM or SIGINT: parses flags and environment, starts the drain loop, and on the
 * first signal stops it gracefully (`close({ drain: false })`: in-flight deliveries finish within
 * `--shutdown-timeout-ms`, the rest of the outbox stays for the other workers or the next start). A second
 * signal exits at once.
 *
 * Logs are pino JSON lines on stdout (configuration errors go to stderr).
 *
 * @returns the exit code: 0 after a graceful stop (and for `--help`), 1 when the worker could not start
 *   (backend unreachable, ...) or failed to stop cleanly, 2 for invalid flags or environment.
 */
export async function runCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  hooks: WorkerHooks & { logger?: Logger; signals?: NodeJS.EventEmitter } = {},
): Promise<number> {
  let config: ReturnType<typeof parseWorkerConfig>;
  try {
    config = parseWorkerConfig(argv, env);
  } catch (error) {
    if (error instanceof WorkerConfigError) {
      if (error.exitCode !== 0) process.stderr.write(`dualwrite-worker: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
  const logger =
    hooks.logger ??
    pino({ level: config.worker.logLevel, base: { pid: process.pid, owner: config.worker.owner } });
  const signals = hooks.signals ?? process;

  let worker: Awaited<ReturnType<typeof startWorker>>;
  try {
    worker = await startWorker(config, logger, hooks);
  } catch (error) {
    logger.fatal(
      { event: 'start-failed', error: error instanceof Error ? error.message : String(error) },
      'could not start',
    );
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    return 1;
  }

  const signal = await new Promise<string>((resolve) => {
    for (const name of ['SIGTERM', 'SIGINT'] as const) signals.once(name, () => resolve(name));
  });
  logger.info({ event: 'stopping', signal }, `received ${signal}; stopping`);
  for (const name of ['SIGTERM', 'SIGINT'] as const)
    signals.once(name, () => {
      logger.warn({ event: 'forced-exit' }, 'second signal; exiting without waiting');
      process.exit(1);
    });
  let code = 0;
  try {
    await worker.stop();
  } catch (error) {
    logger.error(
      { event: 'stop-failed', error: error instanceof Error ? error.message : String(error) },
      'stop failed',
    );
    code = 1;
  }
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  return code;
}
