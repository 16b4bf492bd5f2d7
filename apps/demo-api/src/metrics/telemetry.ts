import type { DualWrite, DualwriteStats } from '@dualwrite/core';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { SyncHistory } from './sync-history.js';

/** Kinds of write the latency histogram distinguishes. */
export type WriteOp = 'put' | 'batch' | 'delete';

/** Options of {@link Telemetry}. */
export interface TelemetryOptions {
  /** Collect Node's default process metrics too. Default `true`. */
  processMetrics?: boolean;
  /** Dashboard history sampling period, ms. Default 2,000. */
  historyIntervalMs?: number;
  /** Samples kept. Default 300 (10 minutes at 2 s). */
  historySize?: number;
}

type CumulativeKey = Exclude<
  keyof DualwriteStats,
  | 'strategy'
  | 'relational'
  | 'vector'
  | 'outboxDepth'
  | 'inFlight'
  | 'deadLetters'
  | 'oldestPendingAgeMs'
  | 'paused'
  | 'deliveryStopped'
  | 'backendDown'
  | 'downBackend'
  | 'indexDrift'
  | 'delivering'
  | 'wakeUps'
  | 'clockOffsetMs'
>;

/** dualwrite's cumulative counters exported as Prometheus counters. */
const COUNTERS: readonly { key: CumulativeKey; name: string; help: string }[] = [
  {
    key: 'vectorCalls',
    name: 'dualwrite_vector_calls_total',
    help: 'Calls made to the vector store (upsert/delete chunks).',
  },
  {
    key: 'vectorRecords',
    name: 'dualwrite_vector_records_total',
    help: 'Records delivered to the vector index.',
  },
  { key: 'retries', name: 'dualwrite_retries_total', help: 'Failed deliveries that were rescheduled.' },
  { key: 'deadLettered', name: 'dualwrite_dead_lettered_total', help: 'Changes moved to dead letter.' },
  { key: 'synced', name: 'dualwrite_synced_total', help: 'Changes acknowledged as applied to the index.' },
  { key: 'embedderCalls', name: 'dualwrite_embedder_calls_total', help: 'Calls made to the embedder.' },
  { key: 'embeddedTexts', name: 'dualwrite_embedded_texts_total', help: 'Texts embedded (cache misses).' },
  {
    key: 'embeddingCacheHits',
    name: 'dualwrite_embedding_cache_hits_total',
    help: 'Embeddings served from cache.',
  },
  {
    key: 'embeddingCacheEvicted',
    name: 'dualwrite_embedding_cache_evicted_total',
    help: 'Embedding cache entries deleted as unused for the cache TTL.',
  },
  { key: 'compensations', name: 'dualwrite_compensations_total', help: 'sync-2pc compensations.' },
  {
    key: 'fenced',
    name: 'dualwrite_fenced_total',
    help: 'Deliveries the index version fence refused (a newer version was there); redelivered.',
  },
  {
    key: 'leasesLost',
    name: 'dualwrite_leases_lost_total',
    help: 'Deliveries dropped before writing because their lease was lost.',
  },
  {
    key: 'acksLost',
    name: 'dualwrite_acks_lost_total',
    help: 'Deliveries written whose ack found the lease taken over by another process (redelivered by it).',
  },
  {
    key: 'leasesTakenOver',
    name: 'dualwrite_leases_taken_over_total',
    help: 'Outbox entries claimed whose earlier write may still land (an expired lease, a write given back in doubt).',
  },
  {
    key: 'writerYields',
    name: 'dualwrite_writer_yields_total',
    help: 'Times a writer let the event loop turn.',
  },
  {
    key: 'lateWritesRepaired',
    name: 'dualwrite_late_writes_repaired_total',
    help: 'Records repaired after a timed-out vector write landed late over a newer state (Chroma).',
  },
];

/**
 * Prometheus metrics (one private registry per app) and the dashboard's sync history. Gauges and
 * counters are refreshed from `dw.stats()` at scrape time; write latency is observed by the routes.
 */
export class Telemetry {
  readonly registry = new Registry();
  readonly history: SyncHistory;
  readonly #dw: DualWrite<unknown>;
  readonly #writeDuration: Histogram<'op' | 'outcome'>;
  readonly #writtenRecords: Counter<'op'>;
  readonly #httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly #gauges: Record<
    'depth' | 'lag' | 'dead' | 'inFlight' | 'down' | 'paused' | 'drift' | 'clockOffset',
    Gauge
  >;
  readonly #counters: Map<CumulativeKey, Counter>;
  #writes = 0;

  constructor(dw: DualWrite<unknown>, options: TelemetryOptions = {}) {
    this.#dw = dw;
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.#writeDuration = new Histogram({
      name: 'demo_api_write_duration_seconds',
      help: 'Latency of summary writes (one HTTP write request, including the transaction and, for sync-2pc, the index write).',
      labelNames: ['op', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#writtenRecords = new Counter({
      name: 'demo_api_written_summaries_total',
      help: 'Summaries written or deleted through the API.',
      labelNames: ['op'],
      registers,
    });
    this.#httpRequests = new Counter({
      name: 'demo_api_http_requests_total',
      help: 'HTTP requests by route and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    const gauge = (name: string, help: string) => new Gauge({ name, help, registers });
    this.#gauges = {
      depth: gauge('dualwrite_outbox_depth', 'Pending outbox entries.'),
      lag: gauge('dualwrite_sync_lag_seconds', 'Age of the oldest pending outbox entry (0 when empty).'),
      dead: gauge('dualwrite_dead_letters', 'Outbox entries in dead letter.'),
      inFlight: gauge('dualwrite_outbox_in_flight', 'Pending entries under a live lease.'),
      down: gauge(
        'dualwrite_vector_backend_down',
        '1 while delivery is paused because the index is unreachable.',
      ),
      paused: gauge('dualwrite_delivery_paused', '1 while delivery is paused by an operator.'),
      drift: gauge(
        'dualwrite_index_drift',
        '1 while a detected drift of the index (replaced, emptied, duplicated) is being repaired.',
      ),
      clockOffset: gauge(
        'dualwrite_clock_offset_seconds',
        "What this process adds to its clock to read the database server's (leases are read on it); 0 until measured.",
      ),
    };
    this.#counters = new Map(
      COUNTERS.map((c) => [c.key, new Counter({ name: c.name, help: c.help, registers })] as const),
    );
    this.history = new SyncHistory(
      () => dw.stats(),
      () => this.#writes,
      options.historyIntervalMs ?? 2_000,
      options.historySize ?? 300,
    );
  }

  /** Records one write request's latency and how many summaries it wrote. */
  observeWrite(op: WriteOp, records: number, seconds: number, ok: boolean): void {
    this.#writeDuration.observe({ op, outcome: ok ? 'ok' : 'error' }, seconds);
    if (ok) {
      this.#writtenRecords.inc({ op }, records);
      this.#writes += records;
    }
  }

  /** Counts one HTTP response. */
  observeRequest(method: string, route: string, status: number): void {
    this.#httpRequests.inc({ method, route, status: String(status) });
  }

  /** Refreshes the dualwrite gauges/counters and renders the Prometheus text format. */
  async render(): Promise<string> {
    this.#apply(await this.#dw.stats());
    return this.registry.metrics();
  }

  /** Content type of {@link render}'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }

  #apply(stats: DualwriteStats): void {
    this.#gauges.depth.set(stats.outboxDepth);
    this.#gauges.lag.set(stats.oldestPendingAgeMs / 1000);
    this.#gauges.dead.set(stats.deadLetters);
    this.#gauges.inFlight.set(stats.inFlight);
    this.#gauges.down.set(stats.backendDown ? 1 : 0);
    this.#gauges.paused.set(stats.paused ? 1 : 0);
    this.#gauges.drift.set(stats.indexDrift ? 1 : 0);
    this.#gauges.clockOffset.set((stats.clockOffsetMs ?? 0) / 1000);
    for (const [key, counter] of this.#counters) {
      counter.reset();
      counter.inc(stats[key]);
    }
  }

  /** Starts history sampling. */
  start(): void {
    this.history.start();
  }

  /** Stops history sampling and releases the registry. */
  stop(): void {
    this.history.stop();
    this.registry.clear();
  }
}
