/**
 * Drain worker process: opens the facade (async-queue or batch) over the shared SQLite file and vector
 * index and only delivers the outbox, printing a `vcall` line per vector write call. Stops when it reads
 * `stop` on stdin: closes with `drain: true`, prints `done` with its counters (and, on PostgreSQL, the health of
 * its LISTEN connection), exits 0.
 *
 * Run as `node --conditions=source --import tsx drain-worker-main.ts '<WorkerConfig JSON>'`.
 */
import { createInterface } from 'node:readline';
import { openFaultyDualWrite } from './backends.js';
import { emit, readConfig, reportUnhandled } from './child-io.js';
import type { WorkerConfig } from './protocol.js';
import { createRng, deriveSeed } from './random.js';
import { skewWallClock } from './skewed-wall-clock.js';

reportUnhandled();
const config = readConfig<WorkerConfig>();
if (config.clockSkewMs || config.clockStep) skewWallClock(config.clockSkewMs ?? 0, config.clockStep);
const who = config.worker;
const { dw, inner } = await openFaultyDualWrite({
  relational: config.relational,
  vector: config.vector,
  dimension: config.dimension,
  strategy: config.strategy,
  batch: config.batch,
  delivery: config.delivery,
  faults: config.faults,
  rng: createRng(deriveSeed(who, 'faults')),
  busyTimeoutMs: config.busyTimeoutMs,
  onVectorCall: config.traceVectorCalls
    ? (c) => emit({ t: 'vcall', who, op: c.op, ids: c.ids, b: c.begin, e: c.end, ok: c.ok })
    : undefined,
});
dw.events.on('drain-error', ({ error }) => emit({ t: 'drain-error', error }));
dw.events.on('clock-offset', (event) => emit({ t: 'clock-offset', ...event }));
const lines = createInterface({ input: process.stdin });
const stop = new Promise<void>((resolve) => {
  lines.on('line', (line) => line.trim() === 'stop' && resolve());
  lines.on('close', () => resolve());
});
emit({ t: 'ready', pid: process.pid, who });
await stop;
lines.close();
const stats = await dw.stats();
// PostgreSQL: what the LISTEN connection went through (reconnects, last notification), before close() ends it.
const listener = (inner as { listenerHealth?: () => unknown }).listenerHealth?.();
const report = await dw.close({ drain: true, timeoutMs: 30_000 });
emit({
  t: 'done',
  stats: {
    ...report,
    synced: stats.synced,
    retries: stats.retries,
    deadLettered: stats.deadLettered,
    leasesTakenOver: stats.leasesTakenOver,
    acksLost: stats.acksLost,
    clockOffsetMs: stats.clockOffsetMs,
    ...(listener === undefined ? {} : { listener }),
  },
});
process.exit(0);
