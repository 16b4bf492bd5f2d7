/** Retry timing for failed deliveries. */
export interface BackoffOptions {
  /** Delay before the first retry, ms. Default 200. */
  baseMs: number;
  /** Upper bound of any delay, ms. Default 60,000. */
  maxMs: number;
  /** Growth factor per attempt. Default 2. */
  factor: number;
  /** `'full'` (uniform in [0, d]), `'equal'` (d/2 + uniform in [0, d/2]) or `'none'`. Default `'full'`. */
  jitter: 'full' | 'equal' | 'none';
}

/** Default {@link BackoffOptions}. */
export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  baseMs: 200,
  maxMs: 60_000,
  factor: 2,
  jitter: 'full',
});

/**
 * Delay in ms before retry number `attempt` (1 = first retry): `min(maxMs, baseMs * factor^(attempt-1))`
 * with jitter applied. A `retryAfterMs` from the backend (HTTP `Retry-After`) is a floor. Always a whole
 * number of ms (a `retryAfterMs` of 300.5 waits 301): it becomes an entry's `retryAt`, which stores refuse as
 * a fraction (a break-it round: an adapter's 300.5 left the entry leased for the whole lease, uncharged).
 *
 * Source: Marc Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog (2015) — full jitter
 * spreads retries of many clients and minimises total work.
 *
 * @param random - uniform [0, 1) source, injectable for tests (default `Math.random`).
 */
export function backoffDelay(
  attempt: number,
  options: Partial<BackoffOptions> = {},
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const o = { ...DEFAULT_BACKOFF, ...options };
  const exp = Math.min(o.maxMs, o.baseMs * o.factor ** Math.max(0, attempt - 1));
  let delay: number;
  if (o.jitter === 'full') delay = random() * exp;
  else if (o.jitter === 'equal') delay = exp / 2 + (random() * exp) / 2;
  else delay = exp;
  delay = Math.round(delay);
  return retryAfterMs !== undefined && retryAfterMs > delay
    ? Math.ceil(Math.min(retryAfterMs, o.maxMs * 10))
    : delay;
}
