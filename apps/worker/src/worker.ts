import { deliveryOptions, openBackends, redactConfig, strategyConfig } from '@dualwrite/config';
import { type CloseReport, createDualWrite, type DualWrite, type VectorStore } from '@dualwrite/core';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config.js';

/** A running drain worker. */
export interface RunningWorker {
  /** The facade running the drain loop (never used for writes). */
  readonly dw: DualWrite;
  /**
   * Stops the drain loop without draining the rest of the outbox (`close({ drain: false })`): deliveries in
   * flight get up to `shutdownTimeoutMs` to finish and be acknowledged; anything still leased after that is
   * re-claimed by another worker once its lease expires. Closes both stores. Idempotent.
   */
  stop(): Promise<CloseReport>;
}

/** Test and embedding seams. */
export interface WorkerHooks {
  /** Wraps the vector store (e.g. to trace or inject failures). */
  wrapVector?: (store: VectorStore) => VectorStore;
}

/** A `clock-offset` of at least this much is logged as a warning, ms: this machine's clock needs NTP. */
export const CLOCK_OFFSET_WARN_MS = 1_000;

/**
 * Opens the configured backends and starts the drain loop: `createDualWrite` with the configured strategy
 * (`async-queue` or `batch`) and delivery knobs. Logs one JSON line per synced batch (`synced`, info), retry
 * (`retried`, warn), dead letter (`dead-lettered`, error), outage (`backend-down` / `backend-up`), internal
 * error (`drain-error`, error), a late write repaired (`late-writes-repaired`, warn), a change of the offset to the
 * database server's clock (`clock-offset`, warn from {@link CLOCK_OFFSET_WARN_MS}), and a `stats` line every
 * `statsIntervalMs`.
 * @throws the stores' typed errors when a backend cannot be opened (e.g. `BackendUnavailableError` for a
 *   missing SQLite file: a worker never creates one), `BackendStartError` when PostgreSQL cannot be reached.
 */
export async function startWorker(
  config: WorkerConfig,
  logger: Logger,
  hooks: WorkerHooks = {},
): Promise<RunningWorker> {
  // A worker only drains what writers wrote: a SQLite path to nothing is an error, not an empty database.
  const backends = await openBackends(config, { create: false, applicationName: 'dualwrite-worker' });
  const relational = backends.relational.store;
  const vector = hooks.wrapVector ? hooks.wrapVector(backends.vector.store) : backends.vector.store;
  let dw: DualWrite;
  try {
    dw = await createDualWrite({
      relational,
      vector,
      ...(backends.embedder ? { embedder: backends.embedder } : {}),
      // A drain worker delivers what writers enqueued: sync-2pc writers' repairs drain as async-queue does.
      strategy:
        config.strategy.name === 'sync-2pc'
          ? { name: 'async-queue', concurrency: config.strategy.concurrency }
          : strategyConfig(config.strategy),
      delivery: { owner: config.worker.owner, ...deliveryOptions(config.strategy) },
      indexBinding: config.vector.indexBinding,
      embeddingCacheTtlMs: config.embedder.cacheTtlMs,
    });
  } catch (error) {
    await vector.close().catch(() => {});
    await relational.close().catch(() => {});
    throw error;
  }

  dw.events.on('synced', ({ items }) =>
    logger.info(
      {
        event: 'synced',
        count: items.length,
        deleted: items.filter((i) => i.deleted).length,
        maxVersion: Math.max(...items.map((i) => i.version)),
        ids: items.slice(0, 20).map((i) => i.id),
      },
      'synced',
    ),
  );
  dw.events.on('retried', (p) => logger.warn({ event: 'retried', ...p }, 'delivery failed; will retry'));
  dw.events.on('dead-lettered', (p) =>
    logger.error({ event: 'dead-lettered', ...p }, 'moved to dead letter'),
  );
  dw.events.on('backend-down', (p) =>
    logger.error({ event: 'backend-down', ...p }, 'vector store unreachable'),
  );
  dw.events.on('backend-up', (p) => logger.info({ event: 'backend-up', ...p }, 'vector store back'));
  dw.events.on('drain-error', (p) => logger.error({ event: 'drain-error', ...p }, 'drain step failed'));
  dw.events.on('clock-offset', (p) =>
    Math.abs(p.offsetMs) >= CLOCK_OFFSET_WARN_MS
      ? logger.warn(
          { event: 'clock-offset', ...p },
          "this machine's clock differs from the database server's: leases and retries are read on the server's (sync it with NTP)",
        )
      : logger.info({ event: 'clock-offset', ...p }, "offset to the database server's clock changed"),
  );
  dw.events.on('late-writes-repaired', (p) =>
    logger.warn(
      { event: 'late-writes-repaired', ...p },
      'a late vector write left records behind: repair enqueued',
    ),
  );

  let wakeUpsMissing = false;
  const statsTimer =
    config.worker.statsIntervalMs > 0
      ? setInterval(() => {
          dw.stats().then(
            (s) => {
              logger.info(
                {
                  event: 'stats',
                  outboxDepth: s.outboxDepth,
                  inFlight: s.inFlight,
                  deadLetters: s.deadLetters,
                  oldestPendingAgeMs: s.oldestPendingAgeMs,
                  synced: s.synced,
                  retries: s.retries,
                  // Another worker's expired leases this one took over, deliveries dropped for a lost lease, and
                  // records repaired after a late write landed (stores without a version fence).
                  leasesTakenOver: s.leasesTakenOver,
                  leasesLost: s.leasesLost,
                  acksLost: s.acksLost,
                  clockOffsetMs: s.clockOffsetMs,
                  lateWritesRepaired: s.lateWritesRepaired,
                  backendDown: s.backendDown,
                  downBackend: s.downBackend,
                  deliveryStopped: s.deliveryStopped,
                  // PostgreSQL: the LISTEN connection's reconnects, failed heartbeats, last notification (and
                  // its age), NOTIFY queue usage, whether the heartbeat's own NOTIFY arrived.
                  ...(s.wakeUps === null ? {} : { listener: s.wakeUps }),
                },
                'stats',
              );
              if ((s.wakeUps?.notificationsDelivered === false) === wakeUpsMissing) return;
              wakeUpsMissing = !wakeUpsMissing;
              if (wakeUpsMissing)
                logger.warn(
                  { event: 'wake-ups-missing', pollIntervalMs: config.strategy.pollIntervalMs },
                  'outbox notifications do not reach this worker (a pooler in transaction mode?): it polls from 200 ms, backing off to its poll interval while idle',
                );
              else logger.info({ event: 'wake-ups-back' }, 'outbox notifications reach this worker again');
            },
            (error: unknown) => logger.warn({ event: 'stats-error', error: String(error) }, 'stats failed'),
          );
        }, config.worker.statsIntervalMs)
      : undefined;
  statsTimer?.unref();

  logger.info(
    { event: 'started', config: redactConfig(config), backends: backends.describe },
    `dualwrite worker ${config.worker.owner} draining (${config.strategy.name})`,
  );

  let stopping: Promise<CloseReport> | undefined;
  return {
    dw,
    stop() {
      stopping ??= (async () => {
        if (statsTimer) clearInterval(statsTimer);
        const report = await dw.close({ drain: false, timeoutMs: config.worker.shutdownTimeoutMs });
        if (report.error)
          logger.warn(
            { event: 'stopped', ...report, err: report.error },
            'dualwrite worker stopped; the source of truth could not be read at the end: what is left is delivered after the next start',
          );
        else logger.info({ event: 'stopped', ...report }, 'dualwrite worker stopped');
        return report;
      })();
      return stopping;
    },
  };
}
