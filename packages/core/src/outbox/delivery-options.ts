import { type BackoffOptions, DEFAULT_BACKOFF } from '../util/backoff.js';

/** Knobs shared by every strategy's outbox delivery. All times in ms. */
export interface DeliveryOptions {
  /** Identity recorded on leases, e.g. `host:pid`. Default `dualwrite:<pid>:<random>`. */
  owner: string;
  /**
   * Lease length; a delivery not acknowledged by then may be claimed by another worker. A live worker renews its
   * leases every third of it, so this bounds only how long a killed or frozen worker holds its entries back.
   * Default 10,000: below sync-2pc's `unitOfWorkTimeoutMs` (30 s), so a `transaction()` whose ids a killed peer
   * had claimed is still delivered within its wait (it timed out at 30 s when the lease was 30 s too).
   */
  leaseMs: number;
  /** Charged attempts before an entry goes to dead letter. Default 8. */
  maxAttempts: number;
  /** Retry timing. Default: base 200 ms, ×2 per attempt, max 60,000 ms, full jitter. */
  backoff: BackoffOptions;
  /** How often idle workers look for due entries (other processes' writes, retries coming due). Default 200. */
  pollIntervalMs: number;
  /**
   * Longest idle poll: without pushed wake-ups (`subscribeOutbox`: SQLite, MySQL) an idle worker's poll
   * interval doubles with each empty claim from `pollIntervalMs` up to this, and drops back as soon as a claim
   * finds work or a write in the same process wakes it. Default `5 × pollIntervalMs`; set it to
   * `pollIntervalMs` for a fixed interval.
   */
  maxIdlePollMs: number;
  /** First health-probe delay while the vector store is down; doubles up to `maxOutageProbeMs`. Default 250. */
  outageProbeMs: number;
  /** Upper bound of the outage probe delay. Default 5,000. */
  maxOutageProbeMs: number;
  /**
   * How long a sync-2pc intent may stay unresolved before recovery takes it for abandoned and rolls it back.
   * Keep it above the longest vector call: a sync-2pc call waits for another writer's older write of the same id
   * while its intent lives, and a writer still in flight past the TTL is refused at its commit (`ConflictError`,
   * nothing of it committed; its vector write is version-fenced and compensated). Default 30,000.
   */
  intentTtlMs: number;
  /** How often abandoned sync-2pc intents are looked for. Default 5,000. */
  recoveryIntervalMs: number;
  /** Random source in [0, 1) for jitter (injectable for tests). Default `Math.random`. */
  random: () => number;
}

/**
 * Builds {@link DeliveryOptions} from partial input. The intervals are rounded to whole ms (at least 1): they
 * are added to the clock for the times an outbox entry or an intent stores (`retryAt`, `expiresAt`), which
 * stores refuse as fractions (a break-it round: `intentTtlMs: 30000.5` made every sync-2pc write fail).
 */
export function resolveDeliveryOptions(input: Partial<DeliveryOptions> = {}): DeliveryOptions {
  const whole = (ms: number | undefined, fallback: number) =>
    ms === undefined ? fallback : Math.max(1, Math.round(ms));
  const pollIntervalMs = whole(input.pollIntervalMs, 200);
  return {
    owner: input.owner ?? `dualwrite:${process.pid}:${Math.random().toString(36).slice(2, 8)}`,
    leaseMs: input.leaseMs ?? 10_000,
    maxAttempts: input.maxAttempts ?? 8,
    backoff: { ...DEFAULT_BACKOFF, ...input.backoff },
    pollIntervalMs,
    maxIdlePollMs: whole(input.maxIdlePollMs, 5 * pollIntervalMs),
    outageProbeMs: whole(input.outageProbeMs, 250),
    maxOutageProbeMs: whole(input.maxOutageProbeMs, 5_000),
    intentTtlMs: whole(input.intentTtlMs, 30_000),
    recoveryIntervalMs: whole(input.recoveryIntervalMs, 5_000),
    random: input.random ?? Math.random,
  };
}
