import type { Clock } from './clock.js';

/** Offsets from the source's clock at most this large are taken as none, ms: below any lease or intent TTL. */
export const SOURCE_CLOCK_DEADBAND_MS = 100;

/** Samples of the source's clock per measurement; the one with the shortest round trip counts. */
export const SOURCE_CLOCK_SAMPLES = 3;

/** A sample whose round trip took longer than this says too little about the offset to use it, ms. */
export const SOURCE_CLOCK_MAX_ROUND_TRIP_MS = 1_000;

/** One measurement of this process's clock against the source's: `offsetMs` to add to the local clock. */
export interface SourceClockReading {
  /** The source's clock minus this process's, ms (positive: this process's clock is behind), ± `roundTripMs / 2`. */
  offsetMs: number;
  /** Round trip of the sample it was read from, ms. */
  roundTripMs: number;
}

/**
 * This process's clock corrected to the source of truth's (`RelationalStore.sourceTime`): `now()` is the local
 * clock plus the offset measured, kept at 0 within {@link SOURCE_CLOCK_DEADBAND_MS} and moved only when a
 * measurement differs from it by more than that; `sleep` is the local clock's. Every process of one source then
 * compares leases, retry times and intent expiries on the database server's timeline, whatever its own machine's
 * clock says: with a worker's clock a minute ahead, each lease another worker took (10 s) looked expired to it at
 * once, and it took the entry over while the other was still delivering it.
 *
 * A measurement reads the source's clock {@link SOURCE_CLOCK_SAMPLES} times and keeps the sample with the
 * shortest round trip, taking the source's reading as made halfway through it (as NTP's offset estimate does,
 * RFC 5905 §8): the error is at most half that round trip.
 */
export class SourceClock implements Clock {
  #offsetMs = 0;
  /** The local and monotonic clocks at the last `now()`, to notice the local one being stepped. */
  #last: { local: number; monotonic: number } | undefined;
  #stepReported = false;

  /**
   * @param local - this process's clock.
   * @param sourceTime - reads the source's clock, Unix ms.
   * @param options.monotonic - a clock no one sets (default `performance.now`), ms.
   * @param options.onStep - called once `now()` sees the local clock move by more than the deadband otherwise
   *   than the monotonic one (NTP stepped it, a VM resumed), until the next measurement: measure again then, rather
   *   than read leases on a stepped clock until the next scheduled measurement.
   */
  constructor(
    private readonly local: Clock,
    private readonly sourceTime: () => Promise<number>,
    private readonly options: { monotonic?: () => number; onStep?: () => void } = {},
  ) {}

  /** The offset applied now, ms (0 within the deadband or before the first measurement). */
  get offsetMs(): number {
    return this.#offsetMs;
  }

  now(): number {
    const local = this.local.now();
    const monotonic = (this.options.monotonic ?? performance.now.bind(performance))();
    const last = this.#last;
    this.#last = { local, monotonic };
    if (last && !this.#stepReported) {
      const stepped = local - last.local - (monotonic - last.monotonic);
      if (Math.abs(stepped) > SOURCE_CLOCK_DEADBAND_MS) {
        this.#stepReported = true;
        this.options.onStep?.();
      }
    }
    return local + this.#offsetMs;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.local.sleep(ms, signal);
  }

  /**
   * Measures the offset again and applies it (0 within the deadband).
   * @returns the reading, or `undefined` when no sample came back within {@link SOURCE_CLOCK_MAX_ROUND_TRIP_MS}
   *   (the offset applied stays as it was).
   * @throws what `sourceTime` throws (the offset applied stays as it was).
   */
  async measure(): Promise<SourceClockReading | undefined> {
    let best: SourceClockReading | undefined;
    for (let i = 0; i < SOURCE_CLOCK_SAMPLES; i++) {
      const sent = this.local.now();
      const source = await this.sourceTime();
      const received = this.local.now();
      const roundTripMs = received - sent;
      if (!Number.isFinite(source) || roundTripMs > SOURCE_CLOCK_MAX_ROUND_TRIP_MS) continue;
      if (best === undefined || roundTripMs < best.roundTripMs)
        best = { offsetMs: Math.round(source - (sent + received) / 2), roundTripMs };
    }
    if (best === undefined) return undefined;
    this.#stepReported = false;
    // Moved only by more than the deadband, so a reading's jitter does not step `now()` back and forth.
    if (Math.abs(best.offsetMs - this.#offsetMs) > SOURCE_CLOCK_DEADBAND_MS)
      this.#offsetMs = Math.abs(best.offsetMs) > SOURCE_CLOCK_DEADBAND_MS ? best.offsetMs : 0;
    return best;
  }
}
