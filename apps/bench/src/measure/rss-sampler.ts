/**
 * Samples `process.memoryUsage.rss()` every `intervalMs` (default 20) from {@link start} until
 * {@link stop} and keeps the maximum. Samples run on the event loop, so a long synchronous stretch
 * (a big better-sqlite3 statement) delays them; the start and stop samples are always taken.
 */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private peak = 0;

  constructor(private readonly intervalMs = 20) {}

  /** Starts sampling (and takes a first sample). Resets the peak. */
  start(): void {
    this.stopTimer();
    this.peak = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Takes a last sample, stops, and returns the peak RSS in bytes. */
  stop(): number {
    this.sample();
    this.stopTimer();
    return this.peak;
  }

  /** Peak so far, bytes. */
  get peakBytes(): number {
    return this.peak;
  }

  private sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peak) this.peak = rss;
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Bytes to MB (here MiB, 2^20 bytes, as `ps`/`top` count), rounded to 1 decimal. */
export function toMb(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}
