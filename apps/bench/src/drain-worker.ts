/**
 * Child process of `--drain-workers` (see `runs/drain-process.ts`): one `dualwrite-worker`, i.e.
 * `@dualwrite/worker`'s {@link startWorker} configured from this process's arguments by its own
 * `parseWorkerConfig` (the environment is not read). It pauses its drainer as soon as it runs, reports
 * `ready`, drains after `go`, reports every delivered batch (`synced`, with a wall-clock timestamp that is
 * comparable across processes), and on `stop` reports its counters and stops gracefully.
 * @packageDocumentation
 */
import { parseWorkerConfig, startWorker } from '@dualwrite/worker';
import pino from 'pino';
import type { DrainChildMessage, DrainParentMessage } from './runs/drain-process.js';

const send = (message: DrainChildMessage) =>
  new Promise<void>((resolve) => {
    if (!process.send) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });

/** Unix time in ms with sub-ms resolution, comparable between processes of one machine. */
const wallClock = () => performance.timeOrigin + performance.now();

async function main(): Promise<void> {
  const config = parseWorkerConfig(process.argv, {});
  const logger = pino(
    { level: config.worker.logLevel, base: { pid: process.pid, owner: config.worker.owner } },
    pino.destination(2),
  );
  const worker = await startWorker(config, logger);
  // The outbox is already full: hold delivery until every worker of the measurement is up. A claim in
  // flight right now is released uncharged when it returns (the drainer re-checks `paused`).
  worker.dw.pause();
  let synced = 0;
  worker.dw.events.on('synced', ({ items }) => {
    synced += items.length;
    void send({ type: 'synced', count: items.length, at: wallClock() });
  });
  process.on('message', (message: DrainParentMessage) => {
    if (message.type === 'go') worker.dw.resume();
    else if (message.type === 'stop')
      void (async () => {
        const stats = await worker.dw.stats();
        await worker.stop();
        await send({
          type: 'stopped',
          synced,
          vectorCalls: stats.vectorCalls,
          retries: stats.retries,
          deadLettered: stats.deadLettered,
        });
        await new Promise<void>((resolve) => logger.flush(() => resolve()));
        process.exit(0);
      })().catch(fail);
  });
  // The parent going away (killed, crashed) must not leave this worker running.
  process.once('disconnect', () => {
    void worker.stop().finally(() => process.exit(1));
  });
  await send({ type: 'ready', pid: process.pid });
}

function fail(error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  void send({ type: 'error', message }).finally(() => process.exit(1));
}

main().catch(fail);
