import { BackendStartError, startErrorMessage } from '@dualwrite/config';
import { isRetryable } from '@dualwrite/core';
import pino, { type Logger } from 'pino';
import { parseWorkerConfig, type WorkerConfig, WorkerConfigError } from './config.js';
import { type RunningWorker, startWorker, type WorkerHooks } from './worker.js';

/**
 * Runs the worker until SIGTERM or SIGINT: parses flags and environment, starts the drain loop, and on the
 * first signal stops it gracefully (`close({ drain: false })`: in-flight deliveries finish within
 * `--shutdown-timeout-ms`, the rest of the outbox stays for the other workers or the next start). A second
 * signal exits at once.
 *
 * Logs are pino JSON lines on stdout (configuration errors go to stderr).
 *
 * A start that fails on an unreachable or restarting backend is retried for up to `--start-timeout-ms`
 * (default 30 s; `start-retry` warnings), so workers started with, or just before, their database come up.
 *
 * @returns the exit code: 0 after a graceful stop (also when a signal came while still starting, and for
 *   `--help`), 1 when the worker could not start (a backend still unreachable after `--start-timeout-ms`, a
 *   missing SQLite file, ...) or failed to stop cleanly, 2 for invalid flags or environment.
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
  // Synchronous writes: a pipe that is full when the worker stops (EAGAIN) is waited for, not left to a retry timer
  // that `process.exit` cuts short (a test read `stopping` as the last line of a worker that had logged `stopped`).
  const logger =
    hooks.logger ??
    pino(
      { level: config.worker.logLevel, base: { pid: process.pid, owner: config.worker.owner } },
      pino.destination({ dest: 1, sync: true }),
    );
  const signals = hooks.signals ?? process;
  const stopRequested = new Promise<string>((resolve) => {
    for (const name of ['SIGTERM', 'SIGINT'] as const) signals.once(name, () => resolve(name));
  });

  const started = await startWithRetries(config, logger, hooks, stopRequested);
  if (started === 'failed' || started === 'stopped') {
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    return started === 'failed' ? 1 : 0;
  }
  const worker = started;

  const signal = await stopRequested;
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

/**
 * Starts the worker; a start that fails with a retryable error (an unreachable or restarting backend:
 * `BackendStartError` over one, `BackendUnavailableError`, `TransientBackendError`) is retried with backoff
 * (250 ms doubling to 5 s) until `worker.startTimeoutMs` has passed, logging a `start-retry` warning per
 * failure. Resolves `'failed'` (after a `start-failed` line) when it gives up or the error is not retryable,
 * `'stopped'` when a signal came first.
 */
async function startWithRetries(
  config: WorkerConfig,
  logger: Logger,
  hooks: WorkerHooks,
  stopRequested: Promise<string>,
): Promise<RunningWorker | 'failed' | 'stopped'> {
  const deadline = Date.now() + config.worker.startTimeoutMs;
  let stop: string | undefined;
  void stopRequested.then((signal) => {
    stop = signal;
  });
  for (let attempt = 1; ; attempt++) {
    try {
      return await startWorker(config, logger, hooks);
    } catch (error) {
      const message = startErrorMessage(error);
      const left = deadline - Date.now();
      if (stop !== undefined) return 'stopped';
      if (!startRetryable(error) || left <= 0) {
        logger.fatal({ event: 'start-failed', attempts: attempt, error: message }, 'could not start');
        return 'failed';
      }
      const inMs = Math.min(250 * 2 ** (attempt - 1), 5_000, left);
      logger.warn({ event: 'start-retry', attempt, inMs, error: message }, 'could not start; retrying');
      const woken = await Promise.race([
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), inMs)),
        stopRequested,
      ]);
      if (woken !== undefined) return 'stopped';
    }
  }
}

/** A start failure that may pass by itself: the backend unreachable, restarting or busy. */
function startRetryable(error: unknown): boolean {
  return isRetryable(error instanceof BackendStartError ? error.cause : error);
}
