/**
 * How often changes arrive: an exponentially weighted mean of the gap between arrivals (a wake-up for `n`
 * changes counts as `n` arrivals spread over the time since the previous one). Batch mode reads it to wait
 * for a batch to fill only while more changes are likely to come within the wait.
 */
export class ArrivalRate {
  private meanGap: number | null = null;
  private last: number | null = null;

  /**
   * @param ceilingMs - longest gap one sample counts as, ms: a burst after a long quiet spell is recognised
   *   within a few arrivals instead of being averaged with the quiet.
   * @param weight - weight of the newest sample in the mean (0 < weight ≤ 1).
   */
  constructor(
    private readonly ceilingMs: number,
    private readonly weight = 0.3,
  ) {}

  /** Records `count` arrivals at `now` (Unix ms). */
  note(now: number, count: number): void {
    if (count <= 0) return;
    if (this.last !== null) {
      const gap = Math.min(Math.max(0, now - this.last), this.ceilingMs) / count;
      this.meanGap = this.meanGap === null ? gap : this.meanGap + this.weight * (gap - this.meanGap);
    }
    this.last = now;
  }

  /** Mean gap between arrivals, ms; `null` until two wake-ups were seen. */
  get meanGapMs(): number | null {
    return this.meanGap;
  }

  /** Time since the last arrival at `now`, ms (`Infinity` before the first). */
  quietFor(now: number): number {
    return this.last === null ? Number.POSITIVE_INFINITY : now - this.last;
  }
}
