/**
 * Writer process: opens the facade over real stores (with the configured faults), performs the seeded
 * workload and prints an `intent` line before each call and an `ack` (or `fail`) line after it (with
 * `retryTransientMs`, a `retry` line per failed attempt of a call it tries again). The parent SIGKILLs it at a
 * moment of its choosing; whatever the writer saw acknowledged must survive.
 *
 * Run as `node --conditions=source --import tsx writer-main.ts '<WriterConfig JSON>'`.
 */
import { createInterface } from 'node:readline';
import type { WriteResult } from '@dualwrite/core';
import { openFaultyDualWrite } from './backends.js';
import { describeError, emit, readConfig, reportUnhandled } from './child-io.js';
import type { WriterConfig } from './protocol.js';
import { createRng, deriveSeed } from './random.js';
import { createWorkload, type WorkloadOp } from './workload.js';

reportUnhandled();
const config = readConfig<WriterConfig>();
const who = config.writer;
const { dw } = await openFaultyDualWrite({
  relational: config.relational,
  vector: config.vector,
  dimension: config.dimension,
  strategy: config.strategy,
  batch: config.batch,
  delivery: config.delivery,
  faults: config.faults,
  rng: createRng(deriveSeed(config.seed, 'faults')),
  busyTimeoutMs: config.busyTimeoutMs,
  onPhase: config.phases ? (p, s, k) => emit({ t: 'phase', p, s, k }) : undefined,
  onVectorCall: config.traceVectorCalls
    ? (c) => emit({ t: 'vcall', who, op: c.op, ids: c.ids, b: c.begin, e: c.end, ok: c.ok })
    : undefined,
});
dw.events.on('drain-error', ({ error }) => emit({ t: 'drain-error', error }));
if (config.pauseDelivery) dw.pause();

const workload = createWorkload({
  seed: config.seed,
  idSpace: config.idSpace,
  writer: who,
  prefix: config.idPrefix,
  trickyIds: config.trickyIds,
});
emit({ t: 'ready', pid: process.pid, who });
if (config.waitForGo) {
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => {
    lines.on('line', (line) => line.trim() === 'go' && resolve());
    lines.on('close', () => resolve());
  });
  lines.close();
}
/** Performs one workload call on the facade. */
async function perform(op: WorkloadOp): Promise<WriteResult[]> {
  switch (op.kind) {
    case 'put':
      return [await dw.put(op.record)];
    case 'putMany':
      return dw.putMany(op.records);
    case 'delete':
      return [await dw.delete(op.id)];
    case 'deleteMany':
      return dw.deleteMany(op.ids);
  }
}

const retryForMs = config.retryTransientMs ?? 0;
for (let seq = 0; seq < config.writes; seq++) {
  const op = workload.next(seq);
  emit({ t: 'intent', seq, op });
  const giveUpAt = Date.now() + retryForMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const results = await perform(op);
      emit({
        t: 'ack',
        seq,
        results: results.map((r) => ({ id: r.id, version: r.version, changed: r.changed })),
      });
      break;
    } catch (error) {
      const e = error as { name?: string; code?: string; retryable?: boolean; message?: string };
      if (e?.retryable === true && Date.now() < giveUpAt) {
        emit({ t: 'retry', seq, code: e.code, message: e.message ?? describeError(error) });
        // 10, 20, 40 ... 250 ms: the server is restarting or the connection was just killed.
        await new Promise((r) => setTimeout(r, Math.min(10 * 2 ** (attempt - 1), 250)));
        continue;
      }
      emit({
        t: 'fail',
        seq,
        name: e?.name ?? typeof error,
        code: e?.code,
        retryable: e?.retryable,
        message: e?.message ?? describeError(error),
      });
      break;
    }
  }
  // Yield to the event loop like a server handling requests would: a tight loop of writes over a synchronous
  // driver (better-sqlite3) runs on microtasks only and would starve the drainer's timers and I/O.
  if (config.pauseBetweenMs) await new Promise((r) => setTimeout(r, config.pauseBetweenMs));
  else await new Promise((r) => setImmediate(r));
}
const report = await dw.close({ drain: config.drainOnClose ?? false, timeoutMs: 30_000 });
emit({ t: 'done', stats: { ...report } });
process.exit(0);
