import { EventEmitter } from 'node:events';

/** Payloads of the observability events, by name. Times are Unix ms. */
export interface DualwriteEventMap {
  /**
   * Records became visible in the vector index at these versions (a delete is applied as `deleted`), and this
   * process acknowledged them: a delivery whose entry has a newer version queued, or whose lease another process
   * took over, is not in it (see `acksLost`).
   */
  synced: { items: { id: string; version: number; deleted: boolean }[] };
  /** A delivery failed and will be retried at `retryAt` (Unix ms); `attempts` charged so far. */
  retried: { id: string; attempts: number; retryAt: number; error: string };
  /** A change was moved to dead letter with its reason. */
  'dead-lettered': { id: string; attempts: number; error: string };
  /** Draining paused because the vector store is unreachable (not charged to entries). */
  'backend-down': { error: string };
  /** The vector store answers again; draining resumed. */
  'backend-up': { downForMs: number };
  /** An internal step failed (e.g. acknowledging a delivery); work is retried, nothing is lost. */
  'drain-error': { error: string };
  /**
   * The index no longer matches what the source of truth says it holds (dropped and recreated, emptied,
   * duplicated rows, drift found by a sampled check). A full repair reconcile starts at once; until it
   * has enqueued its repairs, `syncStatus` reports such records `drifted` and `stats().indexDrift` is set.
   */
  'index-drift': { reason: string; since: number };
  /** The repair reconcile started by an `index-drift` finished; its repairs are in the outbox. */
  'index-repaired': {
    reason: string;
    missing: number;
    stale: number;
    /** Rows at the current version with other text, metadata or vector (see `ReconcileReport.mismatched`). */
    mismatched: number;
    orphans: number;
    duplicates: number;
    repairsEnqueued: number;
    /**
     * Records whose embedding the previous embedder had filled, cleared after an embedder change
     * (`indexBinding: 'rebind'`) and enqueued, so the configured embedder fills them again on delivery.
     */
    reembedded: number;
  };
  /**
   * The index held versions higher than the source of truth's (a database restored from a backup, a
   * reset sequence): the source's sequence moved past `indexVersion` and the `ids` were rewritten at
   * fresh versions so the version fence lets them through.
   */
  'version-regression': { ids: string[]; indexVersion: number };
  /**
   * A vector write that had failed (or another process's, left in flight: a lease taken over, a sync-2pc intent
   * rolled back) landed late and left these records' index rows behind their acknowledged state; their current
   * state is enqueued again (`LateWriteWatch`, stores without a version fence).
   */
  'late-writes-repaired': { ids: string[] };
  /**
   * The offset this process adds to its own clock to read the source of truth's changed (`stats().clockOffsetMs`):
   * from `previousMs` to `offsetMs` (positive: this machine's clock is behind the database server's), measured
   * over a round trip of `roundTripMs` (the reading's error is at most half of it). Leases, retry times and
   * sync-2pc intent expiries are compared across processes, so they are read on the source's clock; an offset of
   * seconds or more says this machine's clock needs NTP.
   */
  'clock-offset': { offsetMs: number; previousMs: number; roundTripMs: number };
}

/** Name of an observability event. */
export type DualwriteEventName = keyof DualwriteEventMap;

/** A typed event stream: `events.on('synced', ({ items }) => ...)`. */
export class DualwriteEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(100);
  }

  /** Subscribes; returns a function that unsubscribes. */
  on<E extends DualwriteEventName>(event: E, listener: (payload: DualwriteEventMap[E]) => void): () => void {
    this.emitter.on(event, listener);
    return () => this.emitter.off(event, listener);
  }

  /** Emits to every listener; a throwing listener never breaks delivery. */
  emit<E extends DualwriteEventName>(event: E, payload: DualwriteEventMap[E]): void {
    for (const listener of this.emitter.listeners(event)) {
      try {
        (listener as (p: DualwriteEventMap[E]) => void)(payload);
      } catch {
        // observers must not break the pipeline
      }
    }
  }
}
