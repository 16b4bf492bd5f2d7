import type { Clock } from './clock.js';

/**
 * Offsets from the source's clock at most this large (or at most half the reading's round trip, its error bound)
 * are taken as none, ms: far below any lease or intent TTL.
 */
export const SOURCE_CLOCK_DEADBAND_MS = 100;

/** Samples of the source's clock per measurement; the one with the shortest round trip counts. */
export const SOURCE_CLOCK_SAMPLES = 3;

/** One measurement of this process's clock against the source's: `offsetMs` to add to the local clock. */
export interface SourceClockReading {
  /** The source's clock minus this process's, ms (positive: this process's clock is behind), ± `roundTripMs / 2`. */
  offsetMs: number;
  /** Round trip of the sample it was read from, ms. */
  roundTripMs: number;
}

/**
 * This process's clock corrected to the source of truth's (`RelationalStore.sourceTime`): `now()` is the local
 * clock plus the offset measured; `sleep` is the local clock's. Every process of one source then compares leases,
 * retry times and intent expiries on the database server's timeline, whatever its own machine's clock says: with
 * a worker's clock a minute ahead, each lease another worker took (10 s) looked expired to it at once, and it took
 * the entry over while the other was still delivering it.
 *
 * A measurement reads the source's clock {@link SOURCE_CLOCK_SAMPLES} times and keeps the sample with the
 * shortest round trip, taking the source's reading as made halfway through it (as NTP's offset estimate does,
 * RFC 5905 §8): the error is at most half that round trip. An offset within {@link SOURCE_CLOCK_DEADBAND_MS}, or
 * within that error, is taken as none, and the offset applied moves only when a measurement differs from it by
 * more than that (a reading's jitter does not step `now()` back and forth).
 *
 * Between measurements the local clock may be stepped (NTP, a VM resumed): `now()` notices it moving otherwise
 * than the monotonic clock by more than the deadband, takes the step back out of the offset at once (the corrected
 * time stays continuous) and asks for a measurement (`onStep`), which confirms or corrects it. Reading the stepped
 * clock until that measurement came back let a recovery process a minute ahead roll back healthy sync-2pc writes
 * (helper-79: 12 of 360 around 23 steps).
 */
export class SourceClock implements Clock {
  #offsetMs = 0;
  #reading: SourceClockReading | undefined;
  /** The local and monotonic clocks at the last `now()` (or measurement), to notice the local one being stepped. */
  #lastLocal = Number.NaN;
  #lastMonotonic = Number.NaN;
  #stepReported = false;

  /**
   * @param local - this process's clock.
   * @param sourceTime - reads the source's clock, Unix ms.
   * @param options.monotonic - a clock no one sets (default `performance.now`), ms.
   * @param options.onStep - called when `now()` saw the local clock stepped, once until the next measurement,
   *   with the offset applied before the step.
   */
  constructor(
    private readonly local: Clock,
    private readonly sourceTime: () => Promise<number>,
    private readonly options: { monotonic?: () => number; onStep?: (offsetBeforeMs: number) => void } = {},
  ) {}

  /** The offset applied now, ms (0 before the first measurement, or within the deadband). */
  get offsetMs(): number {
    return this.#offsetMs;
  }

  /** The last measurement that came back, or `undefined` before one did. */
  get reading(): SourceClockReading | undefined {
    return this.#reading;
  }

  now(): number {
    const local = this.local.now();
    const monotonic = this.#monotonic();
    // Whole ms: the times go into SQL as integers (PostgreSQL's bigint refuses `1796611033258.75`, helper-80), and
    // the monotonic clock has fractions. NaN (no reading yet) compares as no step.
    const stepped = Math.round(local - this.#lastLocal - (monotonic - this.#lastMonotonic));
    this.#lastLocal = local;
    this.#lastMonotonic = monotonic;
    if (Math.abs(stepped) > SOURCE_CLOCK_DEADBAND_MS) {
      const before = this.#offsetMs;
      this.#offsetMs -= stepped;
      if (!this.#stepReported) {
        this.#stepReported = true;
        this.options.onStep?.(before);
      }
    }
    return local + this.#offsetMs;
  }

  #monotonic(): number {
    return this.options.monotonic ? this.options.monotonic() : performance.now();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.local.sleep(ms, signal);
  }

  /**
   * Measures the offset again and applies it (see the class's description).
   * @returns the reading.
   * @throws what `sourceTime` throws (the offset applied stays as it was).
   */
  async measure(): Promise<SourceClockReading> {
    let best: SourceClockReading | undefined;
    for (let i = 0; i < SOURCE_CLOCK_SAMPLES; i++) {
      const sent = this.local.now();
      const source = await this.sourceTime();
      const received = this.local.now();
      if (!Number.isFinite(source)) throw new TypeError(`the source's clock read ${source}`);
      const roundTripMs = received - sent;
      if (best === undefined || roundTripMs < best.roundTripMs)
        best = { offsetMs: Math.round(source - (sent + received) / 2), roundTripMs };
    }
    const reading = best!;
    const band = Math.max(SOURCE_CLOCK_DEADBAND_MS, reading.roundTripMs / 2);
    if (Math.abs(reading.offsetMs - this.#offsetMs) > band)
      this.#offsetMs = Math.abs(reading.offsetMs) > band ? reading.offsetMs : 0;
    this.#reading = reading;
    this.#stepReported = false;
    // The offset now fits the local clock as it reads now: the base of the next step check.
    this.#lastLocal = this.local.now();
    this.#lastMonotonic = this.#monotonic();
    return reading;
  }
}
