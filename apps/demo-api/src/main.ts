/**
 * Process entry: `node --import tsx --conditions=source src/main.ts [--config file.json]` (one process, so
 * signals reach it directly; `pnpm start` runs exactly this).
 * Loads and validates the config (exit 1 naming the bad key), builds the service, listens, and on
 * SIGTERM/SIGINT stops accepting requests, waits for in-flight ones up to `shutdown.requestGraceMs`, drains the
 * outbox up to `shutdown.drainTimeoutMs` (unless delivery is paused), closes the stores and exits 0. What could
 * not drain stays in the outbox and is delivered after the next start.
 */
import { startErrorMessage } from '@dualwrite/config';
import closeWithGrace from 'close-with-grace';
import { ConfigError, loadConfig, type ResolvedConfig } from './config/load.js';
import type { DemoServer } from './server.js';

function fail(prefix: string, error: unknown): never {
  const message = startErrorMessage(error);
  process.stderr.write(`[demo-api] ${prefix}: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let config: ResolvedConfig;
  try {
    config = loadConfig({ argv: process.argv.slice(2) });
  } catch (error) {
    if (error instanceof ConfigError) fail('configuration error', error);
    throw error;
  }

  let server: DemoServer;
  try {
    // Loaded only after the config is valid: a config error answers fast, without loading the backends.
    const { buildServer } = await import('./server.js');
    server = await buildServer(config);
  } catch (error) {
    // A backend that cannot be reached (BackendStartError) names the config key to check in its message.
    fail('cannot start', error);
  }
  const { app, ctx } = server;

  // Past the grace for in-flight requests, the drain budget and time for closing the stores, give up (exit 1).
  const { drainTimeoutMs, requestGraceMs } = config.shutdown;
  closeWithGrace(
    { delay: requestGraceMs + drainTimeoutMs + 15_000, logger: app.log },
    async ({ signal, err }) => {
      // Paused delivery (`POST /sync/pause`) is not drained: this process would only wait out the budget for
      // other processes' workers. What is left is delivered after the next start.
      const paused = ctx.dw.strategy.stats().paused;
      if (err) app.log.error({ err }, 'fatal error: shutting down');
      else
        app.log.info(
          { signal, drainTimeoutMs, paused },
          paused
            ? 'shutting down: no new requests; delivery is paused, so the outbox is not drained'
            : 'shutting down: no new requests, draining the outbox',
        );
      const report = await server.close({ drain: !paused, timeoutMs: drainTimeoutMs });
      app.log.info(
        { ...report, err: report.error },
        report.drained
          ? 'outbox drained, stores closed'
          : report.remaining === null
            ? 'stores closed; the outbox could not be read: what is left is delivered after the next start'
            : `${report.remaining} change(s) left in the outbox: they are delivered after the next start`,
      );
    },
  );

  const { host, port } = config.server;
  try {
    await app.listen({ host, port });
  } catch (error) {
    await server.close({ drain: false, timeoutMs: 5_000 }).catch(() => {});
    fail('cannot start', new Error(listenProblem(error, host, port), { cause: error }));
  }
  app.log.info(
    {
      strategy: ctx.dw.strategyName,
      backends: ctx.backends.describe,
      auth: config.server.authToken ? 'bearer token required' : 'open',
      configFile: config.configFile,
    },
    'demo-api ready',
  );
}

/** Why listening on `host`:`port` failed, naming the setting to change (`PORT`, `HOST`). */
function listenProblem(error: unknown, host: string, port: number): string {
  const code = (error as { code?: unknown }).code;
  const reason = error instanceof Error ? error.message : String(error);
  if (code === 'EADDRINUSE')
    return `port ${port} on ${host} is in use (${reason}); set PORT (server.port) to a free port, or 0 to pick one`;
  if (code === 'EACCES')
    return `port ${port} on ${host} needs privileges (${reason}); set PORT (server.port) above 1023`;
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `host ${host} is not an address of this machine (${reason}); set HOST (server.host), e.g. 127.0.0.1 or 0.0.0.0`;
  return reason;
}

main().catch((error) => fail('cannot start', error));
