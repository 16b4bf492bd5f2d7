import { isRetryable } from '@dualwrite/core';

/** Timings of a sequence of caller writes. All times from `performance.now()`, ms. */
export interface CallerTiming {
  /** One latency per call (retries included in the call's latency). */
  latencies: number[];
  /** Start of the first call. */
  firstStart: number;
  /** End of the last call. */
  lastEnd: number;
  /** Extra attempts made after a retryable failure. */
  retries: number;
  /** Calls that still failed after `maxAttempts`. */
  failed: number;
}

/** Options of {@link runCallerLoop}. */
export interface CallerLoopOptions<T> {
  /** Attempts per call when it fails with a retryable dualwrite error (at least 1). */
  maxAttempts: number;
  /** Called after each call with how many records it carried. */
  onProgress(records: number): void;
  /** Records carried by one item (1 unless items are batches). */
  sizeOf?(item: T): number;
}

/**
 * Runs `write` for each item, one at a time (the caller pattern being measured), timing each call with
 * `performance.now()`. A call failing with a retryable error (`TransientBackendError`, ...) is retried at
 * once, up to `maxAttempts` attempts, like an application would; other errors propagate.
 */
export async function runCallerLoop<T>(
  items: readonly T[],
  write: (item: T, index: number) => Promise<unknown>,
  options: CallerLoopOptions<T>,
): Promise<CallerTiming> {
  const latencies = new Array<number>(items.length);
  let retries = 0;
  let failed = 0;
  const firstStart = performance.now();
  let lastEnd = firstStart;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const start = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await write(item, i);
        break;
      } catch (error) {
        if (!isRetryable(error)) throw error;
        if (attempt >= options.maxAttempts) {
          failed++;
          break;
        }
        retries++;
      }
    }
    lastEnd = performance.now();
    latencies[i] = lastEnd - start;
    options.onProgress(options.sizeOf ? options.sizeOf(item) : 1);
  }
  return { latencies, firstStart, lastEnd, retries, failed };
}
