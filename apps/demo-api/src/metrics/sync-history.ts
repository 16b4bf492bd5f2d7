import type { DualwriteStats } from '@dualwrite/core';

/** One point of the dashboard's time series. */
export interface SyncSample {
  /** Unix ms. */
  at: number;
  outboxDepth: number;
  oldestPendingAgeMs: number;
  deadLetters: number;
  /** Changes acknowledged in the index per second since the previous sample. */
  syncedPerSec: number;
  /** Summaries written through the API per second since the previous sample. */
  writesPerSec: number;
}

/**
 * A ring buffer of {@link SyncSample}s taken every `intervalMs` from `dw.stats()`, so the dashboard shows
 * outbox depth, lag and throughput over the last minutes as soon as it opens. The timer is `unref`'d.
 */
export class SyncHistory {
  readonly intervalMs: number;
  readonly #size: number;
  readonly #stats: () => Promise<DualwriteStats>;
  readonly #writes: () => number;
  readonly #samples: SyncSample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #previous: { at: number; synced: number; writes: number } | undefined;
  #sampling = false;

  constructor(stats: () => Promise<DualwriteStats>, writes: () => number, intervalMs: number, size: number) {
    this.#stats = stats;
    this.#writes = writes;
    this.intervalMs = intervalMs;
    this.#size = size;
  }

  /** Samples now and then every `intervalMs`. Idempotent. */
  start(): void {
    if (this.#timer) return;
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), this.intervalMs);
    this.#timer.unref();
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Takes one sample (skipped while the previous one is still running, or when stats fail). */
  async sample(): Promise<void> {
    if (this.#sampling) return;
    this.#sampling = true;
    try {
      const stats = await this.#stats();
      const at = Date.now();
      const writes = this.#writes();
      const prev = this.#previous;
      const seconds = prev ? Math.max(0.001, (at - prev.at) / 1000) : 1;
      this.#samples.push({
        at,
        outboxDepth: stats.outboxDepth,
        oldestPendingAgeMs: stats.oldestPendingAgeMs,
        deadLetters: stats.deadLetters,
        syncedPerSec: prev ? round((stats.synced - prev.synced) / seconds) : 0,
        writesPerSec: prev ? round((writes - prev.writes) / seconds) : 0,
      });
      if (this.#samples.length > this.#size) this.#samples.splice(0, this.#samples.length - this.#size);
      this.#previous = { at, synced: stats.synced, writes };
    } catch {
      // stores closing or briefly unavailable: skip this point
    } finally {
      this.#sampling = false;
    }
  }

  /** The samples, oldest first. */
  samples(): SyncSample[] {
    return [...this.#samples];
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
