/** Time source. Injected so tests can drive leases, backoff and delays deterministically. */
export interface Clock {
  /** Current time, Unix ms. */
  now(): number;
  /** Resolves after `ms` milliseconds, or early (without rejecting) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Longest delay a Node.js timer holds, ms (2^31 - 1, about 24.8 days): a longer one fires after 1 ms
 * (`TimeoutOverflowWarning`), which turns a long wait into a busy loop or an instant timeout, and
 * `AbortSignal.timeout` throws a `RangeError` from 2^32 ms. Options that become a timer are bounded by it.
 */
export const MAX_TIMER_MS = 0x7fffffff;

/** The wall clock (`Date.now`, `setTimeout`; a sleep longer than {@link MAX_TIMER_MS} takes several timers). */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted || ms <= 0) return resolve();
      let left = ms;
      let timer = arm();
      function arm(): NodeJS.Timeout {
        const step = Math.min(left, MAX_TIMER_MS);
        left -= step;
        return setTimeout(left > 0 ? () => (timer = arm()) : done, step);
      }
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/**
 * `clock` read in whole milliseconds (`now()` floored). What the facade runs on: the SQL stores keep times in
 * 64-bit integer columns, and a caller's clock may count fractions (`performance.timeOrigin + performance.now()`)
 * — PostgreSQL refused every write then, and SQLite stored a REAL that other processes could not read back as a
 * time (a break-it round: their reads, flushes and deliveries failed with "integer out of range").
 */
export function wholeMsClock(clock: Clock): Clock {
  return { now: () => Math.floor(clock.now()), sleep: (ms, signal) => clock.sleep(ms, signal) };
}

/**
 * A clock that only moves when told to. `sleep` resolves once `advance` passes its deadline.
 * For tests of leases, backoff and batching delays.
 */
export class ManualClock implements Clock {
  private current: number;
  private sleepers: { until: number; resolve: () => void }[] = [];

  /** @param start - initial time, Unix ms (default 1,700,000,000,000). */
  constructor(start = 1_700_000_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const entry = { until: this.current + ms, resolve };
      this.sleepers.push(entry);
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  /** Moves time forward by `ms` and wakes every sleeper whose deadline passed. */
  advance(ms: number): void {
    this.current += ms;
    const due = this.sleepers.filter((s) => s.until <= this.current);
    this.sleepers = this.sleepers.filter((s) => s.until > this.current);
    for (const s of due) s.resolve();
  }
}
